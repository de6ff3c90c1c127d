# Analysis: unit statistics and the tables (scores, bootstrap CIs, tests, regression).


def get_all_tables(wildcards=None) -> list[str]:
    """Every final output of this stage."""
    return []
