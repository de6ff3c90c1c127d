"""Merging parsed responses: multi-participation, kept and excluded, participants, accounting."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from unitpsych.responses.payloads import ANONYMIZED, empty_responses, tidy


def anonymized(ids: pd.Series) -> pd.Series:
    """True where a participant id hides who answered: `anonymized` (the IMI release) or missing."""
    ids = ids.astype("string")
    return (ids.isna() | (ids.str.lower() == ANONYMIZED)).astype(bool)


def participant_key(parts: pd.DataFrame) -> pd.Series:
    """Who answered, as far as a source tells: `<source>:<participant_id>`, or the participation
    itself where the participant id is anonymized (the IMI release) or missing."""
    ids = parts["participant_id"].astype("string")
    hidden = anonymized(ids)
    known = parts["source"].astype(str) + ":" + ids.fillna("")
    if not hidden.any():
        return known.astype(str)
    if "participation" not in parts:
        raise ValueError("anonymized participant ids need the participation column")
    return known.where(~hidden, parts["participation"].astype(str)).astype(str)


def flag_multi_participation(participations: pd.DataFrame) -> pd.Series:
    """True for every participation of a participant who took part in more than one task.

    A participant is (source, participant_id); tasks count across all experiments. Every one of
    their participations is flagged, the first included: the paper allows one participation per
    worker across all experiments (§8.1) and drops each (task, worker) pair of such workers (§8.2),
    since a second task is answered with knowledge of the first and the first cannot be told apart
    from a participant who later came back. Released IMI rows keep the release's own flag (a
    missing flag reads as False): their participant ids are anonymized, so it cannot be recomputed.
    """
    if participations.empty:
        return pd.Series(dtype=bool)
    tasks = participations["experiment"] + "-" + participations["task_number"].astype(str)
    flag = tasks.groupby(participant_key(participations)).transform("nunique") > 1
    released = participations["source"] == "imi"
    if released.any():
        value = participations.get("multi_participation", pd.Series(pd.NA, index=flag.index))
        value = value.astype("boolean").fillna(False).astype(bool)
        flag = flag.where(~released, value)
    return flag.astype(bool)


def exclusion_reason(failed: str, multi: bool) -> str:
    """`;`-joined failed checks plus multi_participation; empty when the participation is kept."""
    reasons = [r for r in failed.split(";") if r]
    if multi:
        reasons.append("multi_participation")
    return ";".join(reasons)


PARTICIPATION_KEY = ["source", "participation"]
FLAGS = ("multi_participation", "kept", "exclusion_reason")


def _participations(reports: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Every participation of the parse reports, sorted, with multi_participation, kept and
    exclusion_reason."""
    parts = pd.DataFrame([p for r in reports for p in r["participations"]])
    if parts.empty:
        parts = pd.DataFrame(
            columns=[
                *PARTICIPATION_KEY,
                "experiment",
                "participant_id",
                "task_id",
                "task_number",
                "response_index",
                "file",
                "n_rows",
                "passed_checks",
                "failed_checks",
            ]
        )
    parts = parts.sort_values(
        ["source", "experiment", "task_number", "response_index"], kind="stable"
    ).reset_index(drop=True)
    parts["multi_participation"] = flag_multi_participation(parts).to_numpy(bool)
    parts["kept"] = parts["passed_checks"].astype(bool) & ~parts["multi_participation"]
    parts["exclusion_reason"] = [
        exclusion_reason(str(f or ""), bool(m))
        for f, m in zip(parts["failed_checks"], parts["multi_participation"], strict=True)
    ]
    return parts


def _flag_responses(responses: pd.DataFrame, parts: pd.DataFrame) -> pd.DataFrame:
    """The responses with their participation's flags (replacing any they carry), sorted."""
    key = PARTICIPATION_KEY
    flags = parts[[*key, *FLAGS]].astype({"source": str, "participation": str})
    responses = (
        responses.astype({"source": str, "participation": str})
        .drop(columns=[c for c in FLAGS if c in responses])
        .merge(flags, on=key, how="left", validate="m:1")
    )
    responses = pd.concat(
        [
            tidy(responses),
            responses["multi_participation"].astype(bool),
            responses["kept"].astype(bool),
            responses["exclusion_reason"].astype("string"),
        ],
        axis=1,
    )
    return responses.sort_values(
        ["source", "experiment", "task_number", "response_index", "trial_index"], kind="stable"
    ).reset_index(drop=True)


def merge(
    tables: Sequence[pd.DataFrame], reports: Sequence[Mapping[str, Any]]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Concatenate parsed responses and set multi_participation, kept and exclusion_reason.

    Returns (responses, exclusions, participants, summary); the summary's accounting holds
    kept + excluded + rejected = input, for rows and for payload files.
    """
    parts = _participations(reports)
    frames = [t for t in tables if len(t)]
    responses = pd.concat(frames, ignore_index=True) if frames else empty_responses()
    responses = _flag_responses(responses, parts)
    participants = _participants_table(parts)
    summary = _summary(responses, parts, reports)
    return responses, parts, participants, summary


def _participants_table(parts: pd.DataFrame) -> pd.DataFrame:
    """One row per participant (source, participant_id; a participation where the id is
    anonymized): tasks taken, kept, multi-participation, simulated kind."""
    if parts.empty:
        return pd.DataFrame(
            columns=[
                "source",
                "participant_id",
                "participant",
                "n_tasks",
                "n_kept",
                "experiments",
                "multi_participation",
                "simulated_kind",
            ]
        )
    if "simulated_kind" not in parts:
        parts = parts.assign(simulated_kind="")
    parts = parts.assign(participant=participant_key(parts))
    grouped = parts.groupby(["source", "participant_id", "participant"], sort=True)
    return grouped.agg(
        n_tasks=("task_number", "size"),
        n_kept=("kept", "sum"),
        experiments=("experiment", lambda e: ";".join(sorted(set(e)))),
        multi_participation=("multi_participation", "any"),
        simulated_kind=(
            "simulated_kind",
            lambda k: ";".join(sorted({str(x) for x in k if x == x and x})),
        ),
    ).reset_index()


def _accounting(kept: int, excluded: int, rejected: int, total: int) -> dict[str, int]:
    """An accounting entry; raises if the identity kept + excluded + rejected = input fails."""
    if kept + excluded + rejected != total:
        raise AssertionError(f"accounting broken: {kept} + {excluded} + {rejected} != {total}")
    return {"input": total, "kept": kept, "excluded": excluded, "rejected": rejected}


def _summary(
    responses: pd.DataFrame, parts: pd.DataFrame, reports: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The accounting of rows and files per source, the rejections and the exclusion reasons."""
    rejected = [r for rep in reports for r in rep["rejected"]]
    out: dict[str, Any] = {"by_source": {}}
    for source in sorted({rep["source"] for rep in reports}):
        reps = [rep for rep in reports if rep["source"] == source]
        rows = responses[responses["source"] == source]
        prt = parts[parts["source"] == source]
        rej = [r for r in rejected if r["source"] == source]
        n_kept = int(rows["kept"].sum())
        entry = {
            "rows": _accounting(
                n_kept,
                len(rows) - n_kept,
                sum(int(r["n_rows"]) for r in rej),
                sum(int(rep["n_rows"]) for rep in reps),
            ),
            "participations": {
                "kept": int(prt["kept"].sum()),
                "excluded": int((~prt["kept"].astype(bool)).sum()),
            },
        }
        if source != "imi":  # payload files; the IMI release is one table
            files_rej = sum(1 for r in rej if r.get("file"))
            entry["files"] = _accounting(
                int(prt["kept"].sum()),
                int((~prt["kept"].astype(bool)).sum()),
                files_rej,
                sum(int(rep["n_files"]) for rep in reps),
            )
        out["by_source"][source] = entry
    totals = {"input": 0, "kept": 0, "excluded": 0, "rejected": 0}
    files = dict(totals)
    for entry in out["by_source"].values():
        for k in totals:
            totals[k] += entry["rows"][k]
            files[k] += entry.get("files", {}).get(k, 0)
    out["rows"] = totals
    out["files"] = files
    reasons: dict[str, int] = {}
    for reason in parts.loc[~parts["kept"].astype(bool), "exclusion_reason"] if len(parts) else []:
        for r in str(reason).split(";"):
            reasons[r] = reasons.get(r, 0) + 1
    out["excluded_participations_by_reason"] = dict(sorted(reasons.items()))
    out["rejected"] = rejected
    out["multi_participation_rule"] = (
        "every participation of a participant (source, participant_id) who took part in more "
        "than one task across all experiments is flagged and excluded; released IMI rows keep "
        "the release's flag (its participant ids are anonymized, so it is never recomputed)"
    )
    return out
