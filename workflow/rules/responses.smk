# Responses: payloads (simulated participants, local UI, the released IMI data) parsed, checked and merged.


def get_all_responses(wildcards=None) -> list[str]:
    """Every final output of this stage."""
    return []
