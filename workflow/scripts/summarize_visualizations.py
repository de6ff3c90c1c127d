"""One row per unit from its fv.json: success, reason, α and activations (rule
summarize_visualizations)."""

from unitpsych.io import atomic_path, setup_logging
from unitpsych.visualizations import summarize_visualizations


def main(snakemake) -> None:
    """Aggregate the model's fv.json files into featureviz_summary.csv."""
    setup_logging(snakemake.log[0])
    table = summarize_visualizations(list(snakemake.input.folders))
    with atomic_path(snakemake.output.csv) as tmp:
        table.to_csv(tmp, index=False)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
