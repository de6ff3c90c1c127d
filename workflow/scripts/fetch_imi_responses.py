"""Download the released IMI data set (or take the user's copy) and verify its MD5 checksum."""

from unitpsych.io import log_stream, setup_logging
from unitpsych.responses import ChecksumError, install_archive


def main(snakemake) -> None:
    """Put the checksum-verified human_responses.zip in place (a mismatch stops the run)."""
    log = setup_logging(snakemake.log[0])
    imi = snakemake.params.imi
    stream = log_stream(snakemake.log[0])
    try:
        install_archive(
            snakemake.output.archive,
            imi["md5"],
            url=imi["url"],
            path=imi.get("path"),
            retries=int(imi["retries"]),
            stream=stream,
        )
    except (ChecksumError, RuntimeError, OSError) as err:
        log.error("%s", err)
        raise
    finally:
        stream.close()


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
