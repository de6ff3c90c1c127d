"""Unit groups of the feature visualisations: depth order, near-equal sizes, linking a unit."""

import pytest

from unitpsych.visualizations.groups import (
    group_of,
    link_unit_folder,
    read_unit_groups,
    unit_groups,
)


def _rows(n: int) -> list[tuple[str, int, int]]:
    """n units over layers of decreasing index, listed out of depth order."""
    return [(f"layer{9 - i % 10}__{i}", 9 - i % 10, i) for i in range(n)]


@pytest.mark.parametrize(
    ("n", "per_job", "sizes"),
    [(24, 12, [12, 12]), (14, 12, [7, 7]), (13, 4, [4, 3, 3, 3]), (3, 12, [3]), (0, 5, [])],
)
def test_groups_split_units_in_depth_order_into_near_equal_groups(n, per_job, sizes):
    groups = unit_groups(_rows(n), per_job)
    assert list(groups) == [f"g{i}" for i in range(len(sizes))]
    assert [len(g) for g in groups.values()] == sizes
    flat = [u for g in groups.values() for u in g]
    assert sorted(flat) == sorted(u for u, _, _ in _rows(n))  # every unit once
    depths = [int(u.split("__")[0][5:]) for u in flat]
    assert depths == sorted(depths)  # shallow groups first: a batch stops at about one layer


def test_grouping_is_independent_of_row_order_and_a_missing_unit_is_named(tmp_path):
    rows = _rows(10)
    assert unit_groups(rows, 4) == unit_groups(rows[::-1], 4)
    with pytest.raises(ValueError, match="units_per_job must be >= 1"):
        unit_groups(rows, 0)
    groups = unit_groups(rows, 4)
    assert group_of(groups, groups["g1"][0]) == "g1"
    with pytest.raises(KeyError, match="'nope' is in no feature-visualisation group"):
        group_of(groups, "nope")
    csv = tmp_path / "units.csv"
    lines = ["unit,layer,channel,layer_index,relative_depth,n_channels"]
    lines += [f"{u},{u.split('__')[0]},{c},{i},0.5,64" for u, i, c in rows]
    csv.write_text("\n".join(lines) + "\n")
    assert read_unit_groups(csv, 4) == groups


def test_linking_a_unit_folder_is_atomic_and_refuses_an_empty_one(tmp_path):
    source = tmp_path / "g0" / "u__1"
    source.mkdir(parents=True)
    (source / "max_0.png").write_bytes(b"png")
    (source / "fv.json").write_text("{}")
    target = tmp_path / "stimuli" / "u__1" / "synthetic"
    assert link_unit_folder(source, target) == 2
    assert (target / "max_0.png").samefile(source / "max_0.png")
    (target / "stale.png").write_bytes(b"old")  # a rerun replaces the whole folder
    link_unit_folder(source, target)
    assert sorted(p.name for p in target.iterdir()) == ["fv.json", "max_0.png"]
    empty = tmp_path / "g0" / "u__2"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="holds no feature visualisations"):
        link_unit_folder(empty, tmp_path / "elsewhere")
    assert not (tmp_path / "elsewhere").exists()
