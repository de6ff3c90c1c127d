"""Parse the released IMI response table (protocol §8.3) into our response schema."""

from unitpsych.io import atomic_path, setup_logging, write_json
from unitpsych.responses import parse_released, read_released_table, report_of


def main(snakemake) -> None:
    """Read the released table from the archive, map models and modes, write rows and report."""
    log = setup_logging(snakemake.log[0])
    table = read_released_table(snakemake.input.archive, snakemake.params.member)
    parsed = parse_released(table)
    log.info(
        "IMI: %d rows, %d participations in %d experiments, %d rows rejected",
        parsed.n_rows,
        len(parsed.participations),
        parsed.rows["experiment"].nunique(),
        sum(r["n_rows"] for r in parsed.rejected),
    )
    with atomic_path(snakemake.output.responses) as tmp:
        parsed.rows.to_parquet(tmp, index=False)
    write_json(snakemake.output.report, {"experiment": None, "reports": [report_of("imi", parsed)]})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
