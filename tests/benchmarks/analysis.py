"""Benchmark the analysis: every table (and figure) from a generated IMI-sized response table.

The response table has 130,000 rows (the size of the IMI data set): the paper's 23 experiments,
63 tasks each, every task answered by one kept participant and by excluded attempts, each attempt
5 practice trials and 45 main trials (5 catch trials). The reproduction table compares it with
resources/paper_scores.csv; the every-unit MIS figures get a generated mis_all table
(`--mis-units` units per model, two backends). Goal: tables + figures under 60 s on 2 cores.

Usage: .venv/bin/python tests/benchmarks/analysis.py [--rows N] [--out DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "workflow" / "scripts"))

from unitpsych.experiments.design import experiment_name  # noqa: E402

PAPER = [
    "googlenet",
    "densenet_201",
    "resnet50",
    "resnet50-l2",
    "clip-resnet50",
    "wide_resnet50",
    "in1k-vit_b32",
    "clip-vit_b32",
    "convnext_b",
]
NO_SYNTHETIC = {"in1k-vit_b32", "clip-vit_b32"}
ROOT = Path(__file__).resolve().parents[2]


def paper_experiments() -> list[dict]:
    """The paper's 23 experiments (protocol §9)."""
    exps = [
        {"model": m, "condition": c}
        for m in PAPER
        for c in ("natural", "synthetic")
        if not (c == "synthetic" and m in NO_SYNTHETIC)
    ]
    exps += [
        {"model": m, "condition": "natural", "difficulty": d}
        for m in ("resnet50", "clip-resnet50")
        for d in ("hard99", "hard95", "hard85")
    ]
    exps.append({"model": "resnet50", "condition": "synthetic", "difficulty": "hard95"})
    return exps


def generate_units(models: list[str], n_units: int = 84, n_layers: int = 40, seed: int = 0):
    """A units.csv-like table per model: unit, layer, channel, layer_index, relative_depth."""
    rng = np.random.default_rng(seed)
    out = {}
    for m in models:
        idx = np.sort(rng.integers(0, n_layers, n_units))
        ch = rng.integers(0, 512, n_units)
        units = [f"layer{i}_conv__{c}" for i, c in zip(idx, ch, strict=True)]
        t = pd.DataFrame(
            {
                "unit": units,
                "layer": [f"layer{i}_conv" for i in idx],
                "channel": ch,
                "layer_index": idx,
            }
        ).drop_duplicates("unit")
        t["relative_depth"] = t["layer_index"] / t["layer_index"].max()
        out[m] = t.reset_index(drop=True)
    return out


def generate_responses(
    experiments: list[dict],
    units: dict[str, pd.DataFrame],
    n_rows: int = 130_000,
    n_tasks: int = 63,
    n_main: int = 40,
    n_catch: int = 5,
    n_demo: int = 5,
    source: str = "imi",
    seed: int = 0,
) -> pd.DataFrame:
    """A response table with the columns of responses.parquet, about `n_rows` rows."""
    rng = np.random.default_rng(seed)
    per_attempt = n_main + n_catch + n_demo
    n_attempts = max(len(experiments) * n_tasks, n_rows // per_attempt)
    tasks = [(e, k) for e in range(len(experiments)) for k in range(1, n_tasks + 1)]
    # every task once (kept), then excluded attempts spread over tasks
    extra = rng.integers(0, len(tasks), n_attempts - len(tasks))
    attempts = [(t, True) for t in range(len(tasks))] + [(int(t), False) for t in extra]
    p_unit = {
        m: dict(zip(t["unit"], rng.uniform(0.55, 0.95, len(t)), strict=True))
        for m, t in units.items()
    }
    frames = []
    for a, (t, kept) in enumerate(attempts):
        e, k = tasks[t]
        exp = experiments[e]
        model, cond = exp["model"], exp["condition"]
        diff = exp.get("difficulty", "easy")
        names = units[model]["unit"].to_numpy()
        trial_units = rng.choice(names, n_main + n_catch + n_demo)
        p = np.array([p_unit[model][u] for u in trial_units])
        is_demo = np.arange(per_attempt) < n_demo
        catch = np.zeros(per_attempt, bool)
        catch[n_demo + rng.choice(n_main + n_catch, n_catch, replace=False)] = True
        p = np.where(catch, 0.97, p)
        correct = rng.random(per_attempt) < p
        conf = np.where(
            correct,
            rng.choice([1, 2, 3], per_attempt, p=[0.2, 0.3, 0.5]),
            rng.choice([1, 2, 3], per_attempt, p=[0.5, 0.3, 0.2]),
        )
        layer = [u.rsplit("__", 1)[0] for u in trial_units]
        frames.append(
            pd.DataFrame(
                {
                    "participant_id": f"P{a:05d}",
                    "task_id": f"{experiment_name(model, cond, diff)}-{k}",
                    "task_number": k,
                    "trial_index": np.arange(per_attempt) + 3,
                    "corrected_trial_index": np.arange(per_attempt) - n_demo,
                    "is_demo": is_demo,
                    "catch_trial": catch,
                    "correct": correct,
                    "choice": np.where(correct, "b", "a"),
                    "confidence": conf,
                    "button_pressed": rng.integers(0, 6, per_attempt),
                    "switched_queries": rng.random(per_attempt) < 0.5,
                    "rt": rng.gamma(4, 600, per_attempt),
                    "time_elapsed": np.arange(per_attempt) * 4000,
                    "batch": rng.integers(0, 11, per_attempt),
                    "layer": layer,
                    "channel": [int(u.rsplit("__", 1)[1]) for u in trial_units],
                    "mode": np.where(
                        catch, "catch_trial", "natural" if cond == "natural" else "optimized"
                    ),
                    "model": model,
                    "passed_checks": kept,
                    "multi_participation": False,
                    "source": source,
                    "experiment": experiment_name(model, cond, diff),
                    "unit": trial_units,
                    "condition": cond,
                    "difficulty": diff,
                    "kept": kept,
                    "exclusion_reason": "" if kept else "catch_trials",
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def model_config() -> dict[str, dict]:
    """The paper models' presentation keys (label, scale_rank) as a config would give them."""
    table = pd.read_csv(ROOT / "resources" / "models.csv")
    return {
        r.model: {"arch": r.model, "label": r.paper_name, "scale_rank": r.scale_order}
        for r in table.itertuples()
    }


def run_tables(
    responses, experiments, units, models, out: Path, n_resamples: int = 10_000
) -> dict[str, pd.DataFrame]:
    """Build and write every table, the reproduction of the paper's scores included."""
    from unitpsych.analysis import tables as stats
    from unitpsych.analysis.reproduction import reproduction_table

    settings = stats.Settings(
        sources=("imi",),
        n_resamples=n_resamples,
        confidence_level=0.95,
        seed=42,
        regression_scale="n_parameters",
        regression_cluster=("participant_id", "unit"),
    )
    stat_tables = {
        m: t[["unit"]].assign(
            pixel_sparsity=np.linspace(0, 1, len(t)),
            channel_sparsity=np.linspace(0, 0.5, len(t)),
            local_contrast=np.linspace(1, 2, len(t)),
        )
        for m, t in units.items()
    }
    tables = stats.build_tables(
        responses,
        experiments,
        models,
        settings,
        units=units,
        unit_statistics=stat_tables,
        mis={m: None for m in models},
        model_table=pd.read_csv(ROOT / "resources" / "models.csv"),
    )
    paper = pd.read_csv(ROOT / "resources" / "paper_scores.csv")
    tables["reproduction"] = reproduction_table(responses, paper, experiments, models, settings)
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_csv(out / f"{name}.csv", index=False)
    return tables


def generate_mis_all(models: list[str], n_units: int, seed: int = 2) -> pd.DataFrame:
    """A mis_all.parquet-like table: `n_units` units per model over 20 layers, two backends."""
    rng = np.random.default_rng(seed)
    backends = ("features:efficientnet_lite1", "features:efficientnet_lite2")
    frames = []
    for m in models:
        layer_index = np.sort(rng.integers(0, 20, n_units))
        every = pd.DataFrame(
            {
                "model": m,
                "unit": [f"layer{i}_conv__{c}" for c, i in enumerate(layer_index)],
                "layer": [f"layer{i}_conv" for i in layer_index],
                "channel": np.arange(n_units),
                "layer_index": layer_index,
                "relative_depth": layer_index / 19,
            }
        )
        for b in backends:
            frames.append(
                every.assign(
                    backend=b,
                    score=rng.uniform(0.4, 1, n_units),
                    score_kind="accuracy",
                    excluded="",
                    scores_itself=False,
                )
            )
    return pd.concat(frames, ignore_index=True)


def run_figures(
    tables: dict[str, pd.DataFrame],
    units,
    responses: pd.DataFrame,
    out: Path,
    mis_units: int = 20_000,
) -> int:
    """Draw and save (PDF + PNG) every registered figure from the written tables; returns the count.

    Reads the tables back from CSV as the figure rules do; unit statistics, MIS per unit and the
    every-unit MIS are generated, the exclusion records are one per (participant, task) of the
    response table.
    """
    import matplotlib.pyplot as plt

    from unitpsych.figures import registry as figures
    from unitpsych.responses.checks import CHECKS

    rng = np.random.default_rng(1)
    read = {name: pd.read_csv(out / "tables" / f"{name}.csv") for name in tables}
    read["unit_statistics"] = pd.concat(
        [
            t[["unit"]].assign(
                model=m,
                pixel_sparsity=rng.uniform(0, 1, len(t)),
                channel_sparsity=rng.uniform(0, 0.3, len(t)),
                local_contrast=rng.uniform(0, 2, len(t)),
            )
            for m, t in units.items()
        ]
    )
    read["mis"] = read["unit_statistics"][["model", "unit"]].assign(
        mis=rng.uniform(0.5, 1, len(read["unit_statistics"]))
    )
    read["mis_all"] = generate_mis_all(list(units), mis_units)
    attempts = responses.groupby(["participant_id", "experiment", "task_number"], as_index=False)[
        "kept"
    ].first()
    n = len(attempts)
    checks = CHECKS
    upper = rng.integers(0, 46, n)  # presses of the upper button row of 45 main trials
    read["exclusions"] = attempts.assign(
        source="imi",
        catch_trials_value=rng.uniform(0.4, 1, n),
        row_variability_value=np.minimum(upper, 45 - upper),
        n_upper_row=upper,
        n_lower_row=45 - upper,
        total_response_time_value=rng.uniform(60, 3000, n),
        instruction_time_value=rng.uniform(5, 200, n),
        demo_trials_value=rng.integers(1, 5, n),
        **{f"{c}_result": rng.random(n) > 0.1 for c in checks},
    )
    models = model_config()
    properties = figures.model_properties(models, pd.read_csv(ROOT / "resources" / "models.csv"))
    thresholds = {
        "instruction_time_min_s": 15,
        "instruction_time_max_s": None,
        "total_response_time_min_s": 135,
        "total_response_time_max_s": 2500,
        "row_variability_min": 5,
        "catch_trials_min_ratio": 0.8,
        "demo_trials_max_attempts": 3,
    }
    (out / "figures").mkdir(parents=True, exist_ok=True)
    with plt.style.context(str(ROOT / "resources" / "unitpsych.mplstyle")):
        for name in figures.FIGURES:
            fig = figures.draw(name, read, properties=properties, thresholds=thresholds)
            for ext in ("pdf", "png"):
                fig.savefig(out / "figures" / f"{name}.{ext}", format=ext)
            plt.close(fig)
    return len(figures.FIGURES)


def main() -> None:
    """Print the time of each phase."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=130_000)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--mis-units", type=int, default=20_000, help="every-unit MIS units per model")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, seconds: CI runs it so a broken benchmark fails (test_benchmarks.py)",
    )
    args = ap.parse_args()
    # the smoke run: 2 tasks per experiment, 12 units per model, 200 bootstrap resamples
    n_tasks, n_units, n_resamples = (2, 12, 200) if args.smoke else (63, 84, 10_000)
    if args.smoke:
        args.rows, args.mis_units = 0, 200
    out = args.out or Path(tempfile.mkdtemp(prefix="analysis_bench_"))
    out.mkdir(parents=True, exist_ok=True)
    experiments = paper_experiments()
    units = generate_units(PAPER, n_units=n_units)
    t0 = time.perf_counter()
    responses = generate_responses(experiments, units, n_rows=args.rows, n_tasks=n_tasks)
    path = out / "responses.parquet"
    responses.to_parquet(path)
    print(f"generated {len(responses):,} responses in {time.perf_counter() - t0:.1f} s -> {path}")
    t1 = time.perf_counter()
    responses = pd.read_parquet(path)
    tables = run_tables(
        responses, experiments, units, model_config(), out / "tables", n_resamples=n_resamples
    )
    t_tables = time.perf_counter() - t1
    print(f"tables: {t_tables:.1f} s ({', '.join(f'{k} {len(v)}' for k, v in tables.items())})")
    t2 = time.perf_counter()
    n_figures = run_figures(tables, units, responses, out, mis_units=args.mis_units)
    t_figures = time.perf_counter() - t2
    print(f"figures: {t_figures:.1f} s ({n_figures} figures, PDF + PNG) -> {out / 'figures'}")
    print(f"total (goal < 60 s on 2 cores): {t_tables + t_figures:.1f} s")


if __name__ == "__main__":
    main()
