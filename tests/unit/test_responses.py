"""Responses: the five exclusion checks at their thresholds, payload parsing with its accounting,
multi-participation, and the released IMI data (checksum, download, layout, parsing)."""

from __future__ import annotations

import http.server
import json
import sys
import threading
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
import yaml

from unitpsych.responses import imi
from unitpsych.responses.merge import merge
from unitpsych.responses.participants import Participant, Trial, simulate_participant
from unitpsych.responses.payloads import (
    ExperimentInfo,
    list_payload_files,
    parse_payloads,
    report_of,
    run_checks,
    split_blocks,
)

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "data"))
from imi_release import kept_scores, make_archive, released_table  # noqa: E402

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
PAPER = {
    k: v["default"]
    for k, v in SCHEMA["properties"]["responses"]["properties"]["checks"]["properties"].items()
}
SIMULATION = {k: v["default"] for k, v in SCHEMA["properties"]["simulation"]["properties"].items()}
TT = "2afc-image-confidence-response"


def raw_rows(
    n_main: int = 45,
    catch: list[bool] | None = None,
    n_lower: int = 20,
    instruction_ms: float = 60_000,
    total_ms: float = 600_000,
    attempts: int = 1,
) -> list[dict]:
    """Raw jsPsych rows as the UI writes them, with the quantities each check reads set exactly."""
    catch = [True] * 5 if catch is None else catch
    rows: list[dict] = []

    def add(trial_type: str, t: float, **data) -> None:
        rows.append({**data, "trial_type": trial_type, "trial_index": len(rows), "time_elapsed": t})

    add("browser-check", 200)  # our page's rows before the welcome page count nowhere
    add("preload", 700)
    add("instructions", 1_000)  # welcome: the authors' first row, so total = last − 1 s
    add("instructions", 1_000 + instruction_ms - 2_000)
    add("fullscreen", 1_000 + instruction_ms - 1_000)
    add("call-function", 1_000 + instruction_ms)  # the first switch head ends the block
    t = 1_000 + instruction_ms
    for attempt in range(attempts):
        if attempt:
            add("call-function", t)
        for _ in range(2):
            t += 5_000
            add(
                TT,
                t,
                is_demo=True,
                catch_trial=False,
                correct=attempt == attempts - 1,
                button_pressed=0,
            )
        t += 1_000
        add("instructions", t)  # "repeat" or "Great!"
    step = (total_ms + 1_000 - t - 10_000) / n_main
    for i in range(n_main):
        t += step
        is_catch = i < len(catch)
        add(
            TT,
            t,
            is_demo=False,
            catch_trial=is_catch,
            correct=catch[i] if is_catch else True,
            button_pressed=4 if i < n_lower else 1,
        )
    add("survey-text", t + 5_000)
    add("instructions", total_ms + 1_000)
    return rows


def test_blocks_follow_the_ui_timeline():
    rows = raw_rows(n_main=10, attempts=3)
    blocks = split_blocks(rows)
    assert [r["trial_type"] for r in blocks.instructions] == [
        "instructions",
        "instructions",
        "fullscreen",
        "call-function",
    ]
    assert sum(r["trial_type"] == "call-function" for r in blocks.demo) == 2
    assert len(blocks.main) == 10 and all(not r["is_demo"] for r in blocks.main)
    no_demo = [r for r in rows if not r.get("is_demo")]
    no_demo = [r for r in no_demo if r["trial_type"] != "call-function"]
    assert len(split_blocks(no_demo).main) == 10 and split_blocks(no_demo).demo == []


@pytest.mark.parametrize(
    ("n_correct", "n_catch", "ok"), [(3, 4, False), (4, 5, True), (5, 6, True)]
)  # ratios 0.75 (just below 0.8), 0.8 (at), 0.833 (just above)
def test_catch_trials_at_threshold(n_correct, n_catch, ok):
    catch = [True] * n_correct + [False] * (n_catch - n_correct)
    result = run_checks(raw_rows(catch=catch), PAPER)["catch_trials"]
    assert result.passed is ok
    assert result.details["ratio"] == pytest.approx(n_correct / n_catch)
    assert result.details["correctly_answered"] == catch


@pytest.mark.parametrize(("n_lower", "ok"), [(4, False), (5, True), (6, True)])
def test_row_variability_at_threshold(n_lower, ok):
    result = run_checks(raw_rows(n_lower=n_lower), PAPER)["row_variability"]
    assert result.passed is ok
    assert result.details == {"n_upper_row": 45 - n_lower, "n_lower_row": n_lower}
    upper_only = run_checks(raw_rows(n_lower=45 - n_lower), PAPER)["row_variability"]
    assert upper_only.passed is ok  # both rows count, not min/max queries


def test_row_variability_passes_with_a_single_trial():
    assert run_checks(raw_rows(n_main=1, catch=[], n_lower=0), PAPER)["row_variability"].passed


@pytest.mark.parametrize(
    ("total_s", "ok"),
    [
        (134.999, False),
        (135.0, True),
        (135.001, True),
        (2499.999, True),
        (2500.0, True),
        (2500.001, False),
    ],
)
def test_total_response_time_at_thresholds(total_s, ok):
    result = run_checks(raw_rows(total_ms=total_s * 1000), PAPER)["total_response_time"]
    assert result.details["total_time"] == pytest.approx(total_s)
    assert result.passed is ok


@pytest.mark.parametrize(("instr_s", "ok"), [(14.999, False), (15.0, True), (15.001, True)])
def test_instruction_time_at_threshold(instr_s, ok):
    result = run_checks(raw_rows(instruction_ms=instr_s * 1000), PAPER)["instruction_time"]
    assert result.details["total_time"] == pytest.approx(instr_s)
    assert result.passed is ok
    capped = run_checks(
        raw_rows(instruction_ms=instr_s * 1000), PAPER | {"instruction_time_max_s": 15.0}
    )
    assert capped["instruction_time"].passed is (instr_s == 15.0)


@pytest.mark.parametrize(("attempts", "ok"), [(2, True), (3, True), (4, False)])
def test_demo_trials_at_threshold(attempts, ok):
    result = run_checks(raw_rows(attempts=attempts), PAPER)["demo_trials"]
    assert result.details == {"n_demo_trials_blocks": attempts}
    assert result.passed is ok


def test_missing_threshold_is_named():
    with pytest.raises(KeyError, match="row_variability_min"):
        run_checks(raw_rows(), {k: v for k, v in PAPER.items() if k != "row_variability_min"})


# Payload parsing, rejections and the accounting

EXP = ExperimentInfo("tiny_natural", "tiny", "natural")


def trials_table(n_tasks: int = 3, n_main: int = 6, n_demo: int = 2) -> pd.DataFrame:
    """A trials.csv of `n_tasks` tasks (catch trial at 2) plus the practice task 0."""
    rows = []
    for task in range(n_tasks + 1):
        for trial in range(1, (n_demo if task == 0 else n_main) + 1):
            catch = task > 0 and trial == 2
            rows.append(
                {
                    "experiment": EXP.name,
                    "task": task,
                    "trial": trial,
                    "is_demo": task == 0,
                    "catch_trial": catch,
                    "mode": "catch_trial" if catch else "natural",
                    "unit": f"layer{trial}__{task}",
                    "layer": f"layer{trial}",
                    "channel": task,
                    "batch": trial % 2,
                    "d": 1.0 if catch else 0.4,
                }
            )
    return pd.DataFrame(rows)


SMALL = PAPER | {"row_variability_min": 1, "total_response_time_min_s": 10}


def payload(participant: str, task: int, trials: pd.DataFrame, kind: str = "attentive") -> dict:
    """A simulated participant's payload for one task of `trials`."""
    rows = trials[trials["task"] == task]
    main = [Trial(int(r.trial), float(r.d), bool(r.catch_trial)) for r in rows.itertuples()]
    demo = [Trial(int(r.trial), 2.0) for r in trials[trials["task"] == 0].itertuples()]
    person = Participant(participant, EXP.name, task, kind)
    return simulate_participant(person, main, demo, SIMULATION, SMALL, alpha=0.8)


def write(folder: Path, name: str, data: bytes | str | dict) -> Path:
    """Write a payload file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(data, dict):
        data = json.dumps(data)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def test_payload_rows_join_trials_and_keep_demo_rows(tmp_path):
    trials = trials_table()
    write(tmp_path, "p1_task_2.json", payload("p1", 2, trials))
    parsed = parse_payloads(
        [("local", p) for p in list_payload_files(tmp_path)], EXP, trials, SMALL
    )
    rows = parsed.rows
    assert parsed.rejected == [] and len(parsed.participations) == 1
    main = rows[~rows["is_demo"]]
    assert main["corrected_trial_index"].tolist() == list(range(6))
    assert main["trial"].tolist() == list(range(1, 7))
    assert main["unit"].tolist() == [f"layer{i}__2" for i in range(1, 7)]
    assert main["channel"].tolist() == [2] * 6 and main["batch"].tolist() == [1, 0, 1, 0, 1, 0]
    assert main["mode"].tolist()[1] == "catch_trial" and main["catch_trial"].tolist()[1]
    demo = rows[rows["is_demo"]]
    assert (
        len(demo) >= 2 and demo["unit"].isna().all() and demo["corrected_trial_index"].isna().all()
    )
    assert (rows["model"] == "tiny").all() and (rows["condition"] == "natural").all()
    assert rows["passed_checks"].all() and rows["row_variability_result"].all()


def test_a_test_mode_payload_is_excluded(tmp_path):
    trials = trials_table()
    data = payload("p1", 1, trials)
    data["raw_data"] = json.dumps([{**r, "test_fast": True} for r in json.loads(data["raw_data"])])
    write(tmp_path, "p1_task_1.json", data)
    parsed = parse_payloads([("local", tmp_path / "p1_task_1.json")], EXP, trials, SMALL)
    (part,) = parsed.participations
    assert part["failed_checks"] == "test_mode" and not part["passed_checks"]
    _, exclusions, _, _ = merge([parsed.rows], [report_of("local", parsed)])
    assert exclusions["exclusion_reason"].tolist() == ["test_mode"]


def test_bad_input_is_counted_never_lost(tmp_path):
    trials = trials_table()
    local = tmp_path / "local"
    good = payload("p1", 1, trials)
    write(local, "p1_task_1.json", good)
    write(local, "p2_task_2.json", payload("p2", 2, trials))
    write(local, "p3_task_3.json", payload("p3", 3, trials, kind="one_row"))  # excluded
    write(local, "copy_task_1.json", good)  # same content as p1
    other = payload("p1", 1, trials)
    other["raw_data"] = json.dumps(json.loads(other["raw_data"])[:-1])
    write(local, "p1_task_1.json.bak", other)  # not a payload name
    write(local, "p4_task_1.json", json.dumps(good)[:-200])  # truncated
    write(local, "p5_task_1.json", "{not json")
    write(local, "p6_task_1.json", json.dumps(good).encode("utf-16"))  # not UTF-8
    wrong_exp = dict(payload("p7", 1, trials), task_id="other_natural-1")
    write(local, "p7_task_1.json", wrong_exp)
    write(local, "p8_task_9.json", dict(payload("p8", 1, trials), task_id=f"{EXP.name}-9"))
    short = payload("p9", 1, trials)
    short["main_data"] = json.dumps(json.loads(short["main_data"])[:-1])
    write(local, "p9_task_1.json", short)  # one trial missing
    bad_row = payload("p10", 1, trials)
    rows = json.loads(bad_row["main_data"])
    rows[3]["button_pressed"] = 7
    bad_row["main_data"] = json.dumps(rows)
    write(local, "p10_task_1.json", bad_row)
    bad_raw = payload("p11", 1, trials)
    raw = json.loads(bad_raw["raw_data"])
    raw[-1]["time_elapsed"] = "late"
    bad_raw["raw_data"] = json.dumps(raw)
    write(local, "p11_task_1.json", bad_raw)
    simulated = tmp_path / "simulated"
    write(simulated, "p2_task_2.json", payload("p2", 2, trials))  # other source: not a duplicate
    write(simulated, "s1_task_2.json", payload("s1", 2, trials))
    again = payload("s1", 2, trials)
    raw = json.loads(again["raw_data"])
    raw[-2]["responses"] = '{"feedback":"again"}'
    again["raw_data"] = json.dumps(raw)
    assert again != payload("s1", 2, trials)
    write(simulated, "s1_task_2 (1).json", again)  # same participant and task, other content

    reports, tables = [], []
    n_files = 0
    for source, folder in (("local", local), ("simulated", simulated)):
        files = list_payload_files(folder)
        n_files += len(files)
        parsed = parse_payloads([(source, f) for f in files], EXP, trials, SMALL)
        tables.append(parsed.rows)
        reports.append(report_of(source, parsed))
    responses, exclusions, _, summary = merge(tables, reports)
    reasons = {r["file"]: r["reason"] for r in summary["rejected"]}
    assert set(reasons) == {
        "p1_task_1.json",
        "p1_task_1.json.bak",
        "p4_task_1.json",
        "p5_task_1.json",
        "p6_task_1.json",
        "p7_task_1.json",
        "p8_task_9.json",
        "p9_task_1.json",
        "p10_task_1.json",
        "p11_task_1.json",
        "s1_task_2 (1).json",
    }
    assert "raw_data[14/time_elapsed]" in reasons["p11_task_1.json"]
    assert "same content as local/copy_task_1.json" in reasons["p1_task_1.json"]
    assert (
        "participant and task already in simulated/s1_task_2.json" in reasons["s1_task_2 (1).json"]
    )
    assert "file name" in reasons["p1_task_1.json.bak"]
    assert "JSON" in reasons["p4_task_1.json"] and "JSON" in reasons["p5_task_1.json"]
    assert "UTF-8" in reasons["p6_task_1.json"]
    assert "unknown experiment" in reasons["p7_task_1.json"]
    assert "unknown task" in reasons["p8_task_9.json"]
    assert "main trials" in reasons["p9_task_1.json"]
    assert "button_pressed" in reasons["p10_task_1.json"]
    files, rows = summary["files"], summary["rows"]
    assert files == {"input": n_files, "kept": 4, "excluded": 1, "rejected": 11}
    assert files["kept"] + files["excluded"] + files["rejected"] == files["input"]
    assert rows["kept"] + rows["excluded"] + rows["rejected"] == rows["input"]
    assert rows["kept"] + rows["excluded"] == len(responses)
    assert rows["rejected"] > 0 and rows["kept"] == int(responses["kept"].sum())
    assert exclusions.loc[~exclusions["kept"], "exclusion_reason"].tolist() == ["row_variability"]
    assert summary["excluded_participations_by_reason"] == {"row_variability": 1}
    # both button-row counts: together every main trial once, the check's value the smaller one
    key = ["source", "participant_id", "task_number"]
    main = responses[~responses["is_demo"]].groupby(key).size()
    ex = exclusions.set_index(key)
    assert (ex["n_upper_row"] + ex["n_lower_row"]).sort_index().to_dict() == main.to_dict()
    assert (ex["row_variability_value"] == ex[["n_upper_row", "n_lower_row"]].min(axis=1)).all()
    one_row = ex.loc[~ex["kept"].astype(bool)]
    assert (one_row[["n_upper_row", "n_lower_row"]].min(axis=1) == 0).all()
    assert (ex.loc[ex["kept"].astype(bool), ["n_upper_row", "n_lower_row"]] >= 1).all().all()


def test_multi_participation_flags_every_participation_of_a_returning_participant(tmp_path):
    trials = trials_table()
    other = ExperimentInfo("tiny_synthetic", "tiny", "synthetic")
    reports, tables = [], []
    for exp, files in ((EXP, [("p1", 1), ("p2", 2)]), (other, [("p1", 3), ("p3", 1)])):
        folder = tmp_path / exp.name
        for person, task in files:
            data = payload(person, task, trials)
            data["task_id"] = f"{exp.name}-{task}"
            write(folder, f"{person}_task_{task}.json", data)
        parsed = parse_payloads(
            [("local", f) for f in list_payload_files(folder)], exp, trials, SMALL
        )
        tables.append(parsed.rows)
        reports.append(report_of("local", parsed))
    responses, exclusions, participants, _ = merge(tables, reports)
    flagged = exclusions.set_index(["participant_id", "experiment"])["multi_participation"]
    assert flagged[("p1", "tiny_natural")] and flagged[("p1", "tiny_synthetic")]
    assert not flagged[("p2", "tiny_natural")] and not flagged[("p3", "tiny_synthetic")]
    assert set(exclusions.loc[~exclusions["kept"], "exclusion_reason"]) == {"multi_participation"}
    assert not responses.loc[responses["participant_id"] == "p1", "kept"].any()
    assert responses.loc[responses["participant_id"] != "p1", "kept"].all()
    p1 = participants.set_index("participant_id").loc["p1"]
    assert p1["n_tasks"] == 2 and p1["multi_participation"] and p1["n_kept"] == 0


# The released IMI data set


def _small_release(**kw) -> pd.DataFrame:
    """Three tasks of the four ResNet-50 experiments whose `model` column says plain `resnet50`
    or `resnet50_hard95`, in the release's layout."""
    exps = [
        ("resnet50", "", "natural"),
        ("resnet50", "", "optimized"),
        ("resnet50", "hard95", "natural"),
        ("resnet50", "hard95", "optimized"),
    ]
    return released_table(n_tasks=3, experiments=exps, **kw)


def test_fixture_has_the_real_release_layout():
    table = released_table()
    assert len(table.columns) == len(set(table.columns)) == 45
    assert set(table["participant_id"]) == {"anonymized"}
    prefix = table["task_id"].str.rsplit("-", n=1).str[0]
    assert prefix.nunique() == 23 and table.groupby(prefix)["task_number"].nunique().eq(63).all()
    main = table[
        table["passed_checks"]
        & ~table["multi_participation"]
        & ~table["is_demo"]
        & ~table["catch_trial"]
    ]
    assert len(main) == 23 * 2520
    plain = main[main["model"] == "resnet50"]  # three experiments share this value
    assert len(plain) == 3 * 2520 and plain["task_id"].str.contains("natural").sum() == 2520
    assert main.loc[prefix == "resnet50_natural", "correct"].mean() == pytest.approx(0.8317460317)
    assert table.loc[table["is_demo"], ["batch", "channel", "model"]].isna().all().all()
    assert table["batch"].dtype == float and table["channel"].dtype == float
    catch = table[table["catch_trial"]]
    assert set(catch["model"]) == {"catch/manual"} and set(catch["batch"]) == {-1.0}
    assert table["row_variability_details"].iloc[0].startswith("{'n_upper_row': ")
    assert table["catch_trials_details_correctly_answered_extracted"].iloc[0].startswith("[True")
    assert table.groupby(["task_id", "response_index"]).ngroups > 23 * 63  # reposted tasks


def test_imi_release_parsed_by_task_id_and_response_index(tmp_path):
    table = _small_release()
    archive = tmp_path / "human_responses.zip"
    md5 = make_archive(archive, table)
    dest = tmp_path / "results" / "human_responses.zip"
    imi.install_archive(dest, md5, path=str(archive))
    assert imi.md5sum(dest) == md5
    parsed = imi.parse_released(imi.read_released_table(dest, "responses_all.csv"))
    rows = parsed.rows
    assert not parsed.rejected and len(rows) == len(table)
    assert set(rows["experiment"]) == {
        "resnet50_natural",
        "resnet50_synthetic",
        "resnet50_hard95_natural",
        "resnet50_hard95_synthetic",
    }
    hard = rows[rows["experiment"] == "resnet50_hard95_synthetic"]  # model column: plain resnet50
    assert set(hard["model"]) == {"resnet50"} and set(hard["difficulty"]) == {"hard95"}
    assert set(hard["condition"]) == {"synthetic"}
    pairs = table.groupby(["task_id", "response_index"]).ngroups
    assert len(parsed.participations) == pairs == rows["participation"].nunique()
    demo = rows[rows["is_demo"]]
    assert demo["unit"].isna().all() and demo["trial"].isna().all()
    catch = rows[rows["catch_trial"]]
    assert set(catch["mode"]) == {"catch_trial"} and catch["batch"].eq(-1).all()
    regular = rows[~rows["is_demo"] & ~rows["catch_trial"]]
    assert regular["channel"].dtype == "Int64" and regular["unit"].str.contains("__").all()
    assert sorted(regular["trial"].unique()) == [
        t for t in range(1, 46) if t not in (5, 14, 23, 32, 41)
    ]
    responses, exclusions, participants, summary = merge([rows], [report_of("imi", parsed)])
    # the release's flags decide; anonymized ids never make everyone a multi-participant
    released = table.groupby(["task_id", "response_index"]).first()
    by = exclusions.set_index(["task_id", "response_index"]).loc[released.index]
    assert (by["multi_participation"] == released["multi_participation"]).all()
    assert (by["kept"] == (released["passed_checks"] & ~released["multi_participation"])).all()
    failed = released.loc[~released["passed_checks"]]
    assert all(by.loc[i, "exclusion_reason"] in imi.CHECKS for i in failed.index)
    assert len(participants) == pairs  # one row per participation: the ids say nothing more
    assert summary["rows"] == {
        "input": len(table),
        "kept": int(responses["kept"].sum()),
        "excluded": int((~responses["kept"]).sum()),
        "rejected": 0,
    }
    assert responses.groupby("experiment")["task_number"].nunique().eq(3).all()
    unnumbered = imi.parse_released(table.drop(columns="task_number"))  # from the task_id
    assert unnumbered.rows["task_number"].tolist() == rows["task_number"].tolist()


def test_imi_rows_that_disagree_with_their_task_id_are_rejected_and_counted():
    table = _small_release()
    regular = table.index[~table["is_demo"] & ~table["catch_trial"]]
    bad = table.copy()
    bad.loc[regular[0], "model"] = "googlenet"  # another model
    bad.loc[regular[1], "mode"] = "optimized"  # a natural task
    bad.loc[regular[2], "task_number"] = 99
    bad.loc[regular[3], "model"] = "resnet50_hard85"  # wrong difficulty
    bad["response_index"] = bad["response_index"].astype(float)
    bad.loc[regular[4], "response_index"] = float("nan")  # whose response?
    mystery = bad[bad["task_id"] == bad["task_id"].iloc[-1]].assign(task_id="mystery-1")
    bad = pd.concat([bad, mystery], ignore_index=True)
    parsed = imi.parse_released(bad)
    reasons = {r["reason"]: r for r in parsed.rejected}
    assert sum(r["n_rows"] for r in parsed.rejected) == 5 + len(mystery)
    assert any(
        "model column googlenet disagrees with task_id resnet50_natural-1" in r for r in reasons
    )
    assert any(r.startswith("mode column optimized disagrees") for r in reasons)
    assert any(r.startswith("task_number 99 disagrees") for r in reasons)
    assert any(r.startswith("model column resnet50_hard85") for r in reasons)
    unreadable = [r for r in parsed.rejected if "is not <model>" in r["reason"]]
    assert sum(r["n_rows"] for r in unreadable) == len(mystery) + 1
    assert all(r["participation"].startswith("imi:") for r in parsed.rejected)
    _, _, _, summary = merge([parsed.rows], [report_of("imi", parsed)])
    rows = summary["rows"]
    assert rows["input"] == len(bad) and rows["rejected"] == 5 + len(mystery)
    assert rows["kept"] + rows["excluded"] + rows["rejected"] == rows["input"]
    assert len(summary["rejected"]) == len(parsed.rejected)


def test_imi_scores_equal_a_direct_computation_per_task_id_prefix():
    from unitpsych.analysis import tables as stats

    table = _small_release()
    parsed = imi.parse_released(table)
    responses, _, _, _ = merge([parsed.rows], [report_of("imi", parsed)])
    exps = [
        {"model": "resnet50", "condition": c, "difficulty": d}
        for c in ("natural", "synthetic")
        for d in ("easy", "hard95")
    ]
    settings = stats.Settings(
        sources=("imi",),
        n_resamples=200,
        confidence_level=0.95,
        seed=1,
        regression_scale="n_parameters",
        regression_cluster=("participant_id", "unit"),
    )
    scores = stats.score_tables(responses, exps, {"resnet50": {"label": "ResNet"}}, settings)
    ours = scores["model_scores"].set_index("experiment")["score"]
    direct = kept_scores(table)
    names = {
        "resnet50_natural": "resnet50_natural",
        "resnet50_optimized": "resnet50_synthetic",
        "resnet50_hard95_natural": "resnet50_hard95_natural",
        "resnet50_hard95_optimized": "resnet50_hard95_synthetic",
    }
    for prefix, experiment in names.items():
        assert ours[experiment] == pytest.approx(direct[prefix], abs=1e-12)


def test_imi_row_counts_in_exclusions():
    parsed = imi.parse_released(_small_release())
    _, exclusions, _, _ = merge([parsed.rows], [report_of("imi", parsed)])
    assert (exclusions["n_upper_row"] + exclusions["n_lower_row"]).eq(45).all()
    low = exclusions[["n_upper_row", "n_lower_row"]].min(axis=1)
    assert (exclusions["row_variability_value"] == low).all()
    bare = _small_release().drop(
        columns=[
            "row_variability_details_details_upper_extracted",
            "row_variability_details_details_lower_extracted",
        ]
    )
    parsed = imi.parse_released(bare)  # a release without the counts: left empty
    _, exclusions, _, _ = merge([parsed.rows], [report_of("imi", parsed)])
    assert exclusions[["n_upper_row", "n_lower_row"]].isna().all().all()


def test_imi_checksum_mismatch_names_both_sums_and_keeps_the_file_aside(tmp_path):
    archive = tmp_path / "human_responses.zip"
    md5 = make_archive(archive, _small_release())
    wrong = "0" * 32
    with pytest.raises(imi.ChecksumError, match=f"{md5}.*{wrong}"):
        imi.install_archive(tmp_path / "out" / "a.zip", wrong, path=str(archive))
    assert archive.exists() and not (tmp_path / "out" / "a.zip").exists()
    dest = tmp_path / "dl" / "human_responses.zip"
    with pytest.raises(imi.ChecksumError, match=f"{md5}.*{wrong}"):
        imi.install_archive(dest, wrong, url=archive.as_uri(), retries=1)
    assert not dest.exists()
    assert (dest.parent / f"human_responses.zip.bad-{md5}").read_bytes() == archive.read_bytes()


def test_imi_download_over_http_with_retries(tmp_path):
    archive = tmp_path / "served" / "human_responses.zip"
    archive.parent.mkdir()
    md5 = make_archive(archive, _small_release())
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(archive.parent))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        dest = tmp_path / "results" / "human_responses.zip"
        imi.install_archive(
            dest, md5, url=f"http://127.0.0.1:{port}/human_responses.zip", retries=2
        )
        assert imi.md5sum(dest) == md5
        with pytest.raises(RuntimeError, match="after 1 attempts"):
            imi.install_archive(
                tmp_path / "x.zip", md5, url=f"http://127.0.0.1:{port}/nope.zip", retries=1
            )
        assert not (tmp_path / "x.zip").exists()
    finally:
        server.shutdown()


def test_unexpected_archive_lists_its_contents(tmp_path):
    archive = tmp_path / "a.zip"
    make_archive(archive, _small_release(), member="something_else.csv")
    with pytest.raises(ValueError, match="something_else.csv.*README.md|README.md.*something_else"):
        imi.read_released_table(archive, "responses_all.csv")
    make_archive(archive, _small_release().drop(columns=["mode"]))
    with pytest.raises(ValueError, match="lacks the column.*mode"):
        imi.read_released_table(archive, "responses_all.csv")
