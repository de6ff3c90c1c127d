# Figures: one rule per figure of the paper, each its own target, with report captions.


def get_all_figures(wildcards=None) -> list[str]:
    """Every final output of this stage."""
    return []
