"""The released IMI data set (Zenodo record 8131197): download, checksum, and parsing into our
schema.

The archive `human_responses.zip` holds the released response tables of protocol §8.3
(`responses_all.csv`: one row per 2-AFC trial, demo rows included, with the check columns). What
the release itself is like (read from the authors' published tables; docs/data.md, "What the
release is like"): `participant_id` is `anonymized` on every row, so a participation is
(task_id, response_index); the experiment is the task_id's prefix
`<model>[_hard85|_hard95|_hard99]_<natural|optimized>-<k>`, not the `model` column; the release's
`passed_checks` and `multi_participation` are the only truth about exclusion.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import shutil
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, NamedTuple, TextIO

import pandas as pd

from unitpsych.experiments.design import experiment_name
from unitpsych.io import atomic_path
from unitpsych.responses.payloads import CHECKS, Parsed, participation_id, tidy

log = logging.getLogger(__name__)
HARD = re.compile(r"^(?P<model>.+)_(?P<difficulty>hard(?:85|95|99))$")
#: A released task_id: `<model>[_hard85|_hard95|_hard99]_<natural|optimized>-<task number>`.
TASK_ID = re.compile(
    r"^(?P<model>.+?)(?:_(?P<difficulty>hard85|hard95|hard99))?_(?P<mode>natural|optimized)"
    r"-(?P<task>\d+)$"
)
CONDITION_OF_MODE = {"natural": "natural", "optimized": "synthetic"}
#: Released columns parsing needs; the rest of §10 item 21 is carried along when present.
REQUIRED = (
    "participant_id",
    "task_id",
    "response_index",
    "is_demo",
    "catch_trial",
    "correct",
    "mode",
    "model",
    "layer",
    "channel",
    "passed_checks",
    "multi_participation",
)
CARRIED = (
    "task_number",
    "trial_index",
    "corrected_trial_index",
    "choice",
    "confidence",
    "button_pressed",
    "switched_queries",
    "rt",
    "time_elapsed",
    "batch",
)


class TaskId(NamedTuple):
    """What a released task_id says: experiment, model, condition, difficulty, mode, task number."""

    experiment: str
    model: str
    condition: str
    difficulty: str
    mode: str
    task_number: int


class ChecksumError(RuntimeError):
    """The archive's MD5 is not the expected one."""


def md5sum(path: str | Path, chunk: int = 1 << 20) -> str:
    """MD5 hex digest of a file."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def download(
    url: str, dest: Path, retries: int, stream: TextIO | None = None, name: str | None = None
) -> None:
    """Download `url` to `dest` with `retries` attempts and a tqdm progress bar on `stream`."""
    from tqdm import tqdm

    for attempt in range(1, retries + 1):
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    file=stream,
                    mininterval=5,
                    desc=name or Path(dest).name,
                ) as bar:
                    while block := response.read(1 << 20):
                        out.write(block)
                        bar.update(len(block))
            return
        except OSError as err:
            log.warning("download of %s failed (attempt %d of %d): %s", url, attempt, retries, err)
            if attempt == retries:
                raise RuntimeError(
                    f"could not download {url} after {retries} attempts ({err}); download it by "
                    "hand and set responses.imi.path to the file"
                ) from err
            time.sleep(min(2**attempt, 30))


def install_archive(
    dest: str | Path,
    md5: str,
    url: str | None = None,
    path: str | None = None,
    retries: int = 5,
    stream: TextIO | None = None,
) -> None:
    """Put a checksum-verified archive at `dest`, from the user's copy `path` or a download of
    `url`.

    A downloaded file with the wrong MD5 is kept aside as `<dest>.bad-<md5>` and never used; a
    user's copy with the wrong MD5 is left where it is. Either way the error names both sums.
    """
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        if path:
            log.info("checking the local copy %s", path)
            actual = md5sum(path)
            if actual != md5:
                raise ChecksumError(
                    f"responses.imi.path {path}: MD5 {actual}, expected {md5}; this is not the "
                    "released human_responses.zip (the file is left untouched and not used)"
                )
            shutil.copyfile(path, tmp)
        else:
            if not url:
                raise ValueError("responses.imi: give url or path")
            log.info("downloading %s", url)
            download(url, tmp, retries, stream, name=dest.name)
            actual = md5sum(tmp)
            if actual != md5:
                bad = dest.with_name(f"{dest.name}.bad-{actual}")
                os.replace(tmp, bad)
                raise ChecksumError(
                    f"downloaded {url}: MD5 {actual}, expected {md5}; the file is kept aside at "
                    f"{bad} and not used"
                )
        log.info("MD5 %s verified", md5)


def read_released_table(archive: str | Path, member: str) -> pd.DataFrame:
    """The released response table `member` (matched by file name) from the archive."""
    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        hits = [n for n in names if Path(n).name == member and "__MACOSX" not in n]
        if len(hits) != 1:
            shown = ", ".join(names[:40]) + (" ..." if len(names) > 40 else "")
            raise ValueError(
                f"{archive}: expected one file named {member!r}, found {len(hits)}; the archive "
                f"contains: {shown or 'nothing'} (set responses.imi.member)"
            )
        with zf.open(hits[0]) as f:
            table = pd.read_csv(io.TextIOWrapper(f, encoding="utf-8"), low_memory=False)
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ValueError(
            f"{archive}:{hits[0]} lacks the column(s) {', '.join(missing)} of protocol §8.3; it "
            f"has: {', '.join(map(str, table.columns))}"
        )
    return table


def _bool(col: pd.Series) -> pd.Series:
    """A released boolean column (True/False or strings) as bool."""
    if col.dtype == bool:
        return col
    return col.astype(str).str.strip().str.lower().isin(("true", "1", "1.0"))


def split_model(model: str) -> tuple[str, str]:
    """(our model id, difficulty) of a released model id: `<model>_hard95` -> (model, hard95)."""
    m = HARD.match(model)
    return (m["model"], m["difficulty"]) if m else (model, "easy")


def parse_task_id(task_id: str) -> TaskId | None:
    """The experiment a released task_id names (`resnet50_hard95_optimized-12`), or None."""
    m = TASK_ID.match(str(task_id))
    if not m:
        return None
    difficulty = m["difficulty"] or "easy"
    condition = CONDITION_OF_MODE[m["mode"]]
    return TaskId(
        experiment_name(m["model"], condition, difficulty),
        m["model"],
        condition,
        difficulty,
        m["mode"],
        int(m["task"]),
    )


def _row_problems(t: pd.DataFrame, task: pd.DataFrame) -> pd.Series:
    """Per row, why its columns disagree with its task_id ('' when they agree).

    Regular rows: the `model` column must name the task's model, with the task's difficulty or
    none (the release's hard95 synthetic rows carry the bare `resnet50`), and `mode` the task's
    mode. Catch rows must have mode `catch_trial`. A `task_number` must equal the task_id's.
    Practice rows carry no unit and are not cross-checked.
    """
    regular = ~t["is_demo"] & ~t["catch_trial"]
    model = t["model"].fillna("").astype(str)
    split = [split_model(m) for m in model]
    base = pd.Series([m for m, _ in split], index=t.index)
    level = pd.Series([d for _, d in split], index=t.index)
    model_ok = (base == task["model"]) & ((level == task["difficulty"]) | (level == "easy"))
    mode = t["mode"].fillna("").astype(str)
    problems = pd.Series("", index=t.index)

    def add(bad: pd.Series, text: pd.Series) -> None:
        nonlocal problems
        problems = problems.where(~bad, problems + "; " + text)

    tid = "task_id " + t["task_id"].astype(str)
    add(regular & ~model_ok, "model column " + model + " disagrees with " + tid)
    add(regular & (mode != task["mode"]), "mode column " + mode + " disagrees with " + tid)
    add(
        t["catch_trial"] & ~t["is_demo"] & (mode != "catch_trial"),
        "catch trial with mode " + mode + " (expected catch_trial)",
    )
    number = pd.to_numeric(t.get("task_number", pd.Series(pd.NA, index=t.index)), errors="coerce")
    add(
        number.notna() & (number != task["task_number"]),
        "task_number " + number.astype("Int64").astype(str) + " disagrees with " + tid,
    )
    return problems.str.removeprefix("; ")


def _reject(rows: pd.DataFrame, reason: pd.Series | str) -> list[dict[str, Any]]:
    """Rejection records of released rows, one per participation and reason, with row counts."""
    rows = rows.assign(_reason=reason)
    out = []
    for (task_id, index, why), group in rows.groupby(
        ["task_id", "response_index", "_reason"], dropna=False, sort=True
    ):
        task = parse_task_id(task_id)
        who = f"imi:{task_id}:?" if pd.isna(index) else participation_id("imi", task_id, index)
        out.append(
            {
                "source": "imi",
                "experiment": task.experiment if task else None,
                "file": None,
                "participation": who,
                "n_rows": len(group),
                "reason": why,
            }
        )
    return out


def parse_released(table: pd.DataFrame) -> Parsed:
    """Released IMI rows in our schema, one participation per (task_id, response_index).

    The experiment is the task_id's prefix (the `model` column does not tell it: the ResNet-50
    hard95 synthetic rows say `resnet50`); rows whose task_id cannot be read, or whose model,
    mode or task number disagree with it, are rejected with the reason and counted.
    """
    t = table.copy()
    for col in ("is_demo", "catch_trial", "correct", "passed_checks"):
        t[col] = _bool(t[col])
    t["response_index"] = pd.to_numeric(t["response_index"], errors="coerce").astype("Int64")
    tasks = {tid: parse_task_id(tid) for tid in t["task_id"].astype(str).unique()}
    t["task_id"] = t["task_id"].astype(str)
    readable = t["task_id"].map(lambda tid: tasks[tid] is not None) & t["response_index"].notna()
    rejected = _reject(
        t[~readable],
        pd.Series(
            "task_id is not <model>[_hard85|_hard95|_hard99]_<natural|optimized>-<k> or no "
            "response_index",
            index=t.index,
        )[~readable],
    )
    t = t[readable].copy()
    task = pd.DataFrame(
        [tasks[tid] for tid in t["task_id"]], index=t.index, columns=list(TaskId._fields)
    )
    problems = _row_problems(t, task)
    bad = problems != ""
    rejected += _reject(t[bad], problems[bad])
    t, task = t[~bad].copy(), task[~bad]
    for col in ("experiment", "model", "condition", "difficulty", "task_number"):
        t[col] = task[col]
    t["source"] = "imi"
    for col in CARRIED:
        if col not in t:
            t[col] = pd.NA
    t["participation"] = [
        participation_id("imi", tid, i)
        for tid, i in zip(t["task_id"], t["response_index"], strict=True)
    ]
    t.loc[t["is_demo"], ["layer", "channel", "batch"]] = pd.NA
    t["mode"] = t["mode"].where(~t["is_demo"], pd.NA)
    for col in ("channel", "batch", "task_number"):
        t[col] = pd.to_numeric(t[col], errors="coerce").astype("Int64")
    t["unit"] = (t["layer"].astype(str) + "__" + t["channel"].astype(str)).where(
        t["layer"].notna() & t["channel"].notna(), pd.NA
    )
    key = ["task_id", "response_index"]
    if t["corrected_trial_index"].isna().all() and len(t):
        first = t[~t["is_demo"]].groupby(key)["trial_index"].transform("min")
        t["corrected_trial_index"] = t["trial_index"] - first.reindex(t.index)
    t["trial"] = (pd.to_numeric(t["corrected_trial_index"], errors="coerce") + 1).astype("Int64")
    t.loc[t["is_demo"], "trial"] = pd.NA
    participations = _participations(t, key)
    return Parsed(tidy(t.reset_index(drop=True)), participations, rejected, 0, len(table))


EXTRACTED = {
    "catch_trials": ["catch_trials_details_ratio_extracted"],
    "row_variability": [
        "row_variability_details_details_upper_extracted",
        "row_variability_details_details_lower_extracted",
    ],
    "total_response_time": ["total_response_time_details_extracted"],
    "instruction_time": ["instruction_time_details_extracted"],
    "demo_trials": ["demo_trials_details_extracted"],
}


def _participations(t: pd.DataFrame, key: list[str]) -> list[dict[str, Any]]:
    """One record per released participation with the release's check results, the check values
    (`<check>_value` from the `*_extracted` columns, row_variability the less-used row) and
    flags."""
    if t.empty:
        return []
    first = t.groupby(key, sort=True, dropna=False).first()
    size = t.groupby(key, sort=True, dropna=False).size()
    table = pd.DataFrame(
        {
            "source": "imi",
            "experiment": first["experiment"].astype(str),
            "participant_id": first["participant_id"].astype(str),
            "task_id": first.index.get_level_values("task_id").astype(str),
            "task_number": first["task_number"].astype(int),
            "response_index": first.index.get_level_values("response_index").astype(int),
            "participation": first["participation"].astype(str),
            "file": None,
            "n_rows": size.astype(int),
        },
        index=first.index,
    )
    results = [c for c in CHECKS if f"{c}_result" in first]
    for c in results:
        table[f"{c}_result"] = _bool(first[f"{c}_result"])
    for c, cols in EXTRACTED.items():
        if all(col in first for col in cols):
            values = [pd.to_numeric(first[col], errors="coerce") for col in cols]
            table[f"{c}_value"] = pd.concat(values, axis=1).min(axis=1, skipna=False)
        else:
            table[f"{c}_value"] = float("nan")
    for side in ("upper", "lower"):  # the row check's two counts, as in our exclusions.csv
        col = f"row_variability_details_details_{side}_extracted"
        table[f"n_{side}_row"] = (
            pd.to_numeric(first[col], errors="coerce") if col in first else None
        )
    table["passed_checks"] = _bool(first["passed_checks"])
    failed = pd.Series("", index=first.index)
    for c in results:
        failed = failed.where(table[f"{c}_result"], failed + ";" + c)
    failed = failed.str.lstrip(";")
    table["failed_checks"] = failed.where(
        (failed != "") | table["passed_checks"], "released_checks"
    )
    multi = first["multi_participation"]
    table["multi_participation"] = [
        None if pd.isna(m) else bool(_bool(pd.Series([m]))[0]) for m in multi
    ]
    records = table.reset_index(drop=True).to_dict("records")
    for record in records:
        for k, v in record.items():
            if isinstance(v, float) and v != v:
                record[k] = None
    return records
