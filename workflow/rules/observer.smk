# Observer and MIS (issue: observer): similarity backends, embeddings, observer decisions per trial, MIS per unit.


def get_all_observer(wildcards=None) -> list[str]:
    """Every final output of this stage."""
    return []
