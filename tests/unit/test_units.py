"""Unit sampling: layer-uniform then channel-uniform, deterministic, per-model streams, unit
lists."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from script_runner import mock_snakemake, run_script
from unitpsych.units.sampling import (
    check_units,
    convert_shared_units,
    read_units,
    sample_units,
    split_unit,
    units_table,
)

LAYERS = ["a", "b", "c", "d"]
SIZES = {"a": 4, "b": 1000, "c": 16, "d": 2}


def test_split_unit():
    assert split_unit("layer3_2_shortcut__17") == ("layer3_2_shortcut", 17)
    assert split_unit("visual_layer2_1_conv3__0") == ("visual_layer2_1_conv3", 0)
    with pytest.raises(ValueError, match="<layer>__<channel>"):
        split_unit("layer3_2_shortcut_17")


def test_sampling_is_deterministic_distinct_and_layer_uniform():
    units = sample_units(LAYERS, SIZES, 20, seed=42)
    assert units == sample_units(LAYERS, SIZES, 20, seed=42)
    assert len(set(units)) == 20
    assert units != sample_units(LAYERS, SIZES, 20, seed=43)
    # layer-uniform: the 1000-channel layer is not favoured over the 16-channel one
    many = sample_units(["b", "c"], SIZES, 16, seed=0)
    counts = pd.Series([split_unit(u)[0] for u in many]).value_counts()
    assert counts["c"] >= 4


def test_sampling_reproduces_the_authors_call_sequence():
    """np.random.seed(s); choice(layers); randint(0, size) — the legacy global-state draws."""
    np.random.seed(7)
    expected = []
    while len(expected) < 5:
        layer = np.random.choice(LAYERS)
        unit = f"{layer}__{np.random.randint(0, SIZES[layer])}"
        if unit not in expected:
            expected.append(unit)
    assert sample_units(LAYERS, SIZES, 5, seed=7) == expected


def test_blacklist_and_too_many():
    units = sample_units(["d"], SIZES, 1, seed=0, blacklist=("d__0",))
    assert units == ["d__1"]
    with pytest.raises(ValueError, match="cannot sample 3"):
        sample_units(["d"], SIZES, 3)


def test_shared_units_get_or_lose_the_clip_prefix():
    assert convert_shared_units(["layer1_0_conv1__3"], to_clip=True) == ["visual_layer1_0_conv1__3"]
    assert convert_shared_units(["visual_layer1_0_conv1__3"], to_clip=False) == [
        "layer1_0_conv1__3"
    ]


def test_read_units_json_and_text(tmp_path):
    (tmp_path / "u.json").write_text(json.dumps({"units": ["a__1", "b__2"]}))
    (tmp_path / "u.txt").write_text("a__1\n\nb__2\n")
    assert read_units(tmp_path / "u.json") == read_units(tmp_path / "u.txt") == ["a__1", "b__2"]


def test_check_units_names_the_bad_entry():
    with pytest.raises(ValueError, match="'zz__1'.*not a layer of interest"):
        check_units(["a__1", "zz__1"], LAYERS, SIZES, "m")
    with pytest.raises(ValueError, match="has 2 channels"):
        check_units(["d__5"], LAYERS, SIZES, "m")


def test_units_table_relative_depth():
    df = units_table(["b__3", "d__1"], LAYERS, SIZES)
    assert list(df.columns) == [
        "unit",
        "layer",
        "channel",
        "layer_index",
        "relative_depth",
        "n_channels",
    ]
    assert df["relative_depth"].tolist() == [1 / 3, 1.0]
    assert df["n_channels"].tolist() == [1000, 2]


def _run_sample(tmp_path, name, cfg, shared=(), given=()):
    out = tmp_path / name
    snake = mock_snakemake(
        input={"shared": list(shared), "given": list(given)},
        output={"json": out / "units.json", "csv": out / "units.csv"},
        log=[out / "log.txt"],
        params={"model": {"name": name, **cfg}},
    )
    run_script("sample_units", snake)
    return read_units(out / "units.json"), pd.read_csv(out / "units.csv")


UNITS_CFG = {"n": 10, "seed": 42, "share_with": None, "list": None, "blacklist": []}


def test_script_samples_independently_of_other_models(tmp_path):
    a, table = _run_sample(tmp_path, "rn", {"arch": "resnet50", "units": UNITS_CFG})
    b, _ = _run_sample(tmp_path, "rn_again", {"arch": "resnet50", "units": UNITS_CFG})
    assert a == b and len(a) == 10
    assert table["unit"].tolist() == a


def test_script_shares_units_with_clip_prefix(tmp_path):
    a, _ = _run_sample(tmp_path, "resnet50", {"arch": "resnet50", "units": UNITS_CFG})
    c, _ = _run_sample(
        tmp_path,
        "clip-resnet50",
        {"arch": "clip-resnet50", "units": {**UNITS_CFG, "share_with": "resnet50"}},
        shared=[tmp_path / "resnet50" / "units.json"],
    )
    assert c == ["visual_" + u for u in a]


def test_script_rejects_a_unit_list_entry_that_is_not_a_layer_of_interest(tmp_path):
    bad = tmp_path / "imi_units.json"
    bad.write_text(json.dumps({"units": ["layer1_0_conv1__3", "layer1_0_downsample_0__2"]}))
    with pytest.raises(ValueError, match="layer1_0_downsample_0"):
        _run_sample(
            tmp_path,
            "rn",
            {"arch": "resnet50", "units": {**UNITS_CFG, "list": str(bad)}},
            given=[bad],
        )
