"""Write a model's card results/<model>/model.json (rule model_card)."""

from unitpsych.io import setup_logging, write_json
from unitpsych.models import load_job_model
from unitpsych.models.card import model_card


def main(snakemake) -> None:
    """Load the model with its weights and write its card."""
    setup_logging(snakemake.log[0])
    cfg = snakemake.params.model
    model = load_job_model(cfg, snakemake.threads, snakemake.params.seed)
    write_json(snakemake.output.json, model_card(model, str(cfg.get("weights", "pretrained"))))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
