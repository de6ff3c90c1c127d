"""Draw one figure from the analysis tables in the paper's style and save it as PDF and PNG.

Shared by every figure rule (`plot_<figure>`); the rule names the figure in `params.figure`.
Inputs: `style` (the .mplstyle file), optional `properties` (resources/models.csv), per-model
lists `unit_statistics` / `mis` / `mis_all` (results/<model>/<file>.csv or .parquet), and tables by
name.
"""

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from unitpsych import figures  # noqa: E402
from unitpsych.io import atomic_path, setup_logging  # noqa: E402
from unitpsych.models.card import extend_model_table, model_cards_by_name  # noqa: E402

PER_MODEL = ("unit_statistics", "mis", "mis_all")


def read_per_model(path: str) -> pd.DataFrame:
    """A per-model table: CSV, or Parquet without its per-task d (mis_all.parquet)."""
    if str(path).endswith(".parquet"):
        import pyarrow.parquet as pq

        names = [c for c in pq.read_schema(path).names if c != "d"]
        return pd.read_parquet(path, columns=names)
    return pd.read_csv(path)


def read_tables(inputs) -> dict[str, pd.DataFrame]:
    """Every table input as a DataFrame; per-model files concatenated with a `model` column.

    A per-model file lives in its model's folder (results/<model>/mis.csv), which names the model.
    """
    tables = {}
    for key, value in inputs.items():
        if key in ("style", "properties", "model_cards"):
            continue
        if key in PER_MODEL:
            files = [value] if isinstance(value, str) else list(value)
            parts = [read_per_model(f).assign(model=Path(f).parent.name) for f in files]
            tables[key] = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        else:
            tables[key] = pd.read_csv(value)
    return tables


def main(snakemake) -> None:
    """Draw `params.figure` and write output.pdf and output.png atomically."""
    setup_logging(snakemake.log[0])
    log = logging.getLogger("unitpsych")
    name = snakemake.params.figure
    params = snakemake.params
    tables = read_tables(snakemake.input)
    properties = None
    if "properties" in snakemake.input.keys():
        cards = model_cards_by_name(snakemake.input.get("model_cards", []))
        table = extend_model_table(
            pd.read_csv(snakemake.input.properties), params.model_info, cards
        )
        properties = figures.model_properties(params.model_info, table)
    with plt.style.context(snakemake.input.style):
        fig = figures.draw(name, tables, properties=properties, thresholds=params.get("thresholds"))
        for ext in ("pdf", "png"):
            with atomic_path(getattr(snakemake.output, ext)) as tmp:
                # no creation date in the PDF: the same tables give the same file
                fig.savefig(
                    tmp, format=ext, metadata={"CreationDate": None} if ext == "pdf" else None
                )
    plt.close(fig)
    log.info("drew %s from %s", name, ", ".join(k for k in snakemake.input.keys()))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
