"""Image set: deterministic generation, sorted index, unreadable images reported."""

from __future__ import annotations

import hashlib

import pytest

from unitpsych.images import (
    ImageDataset,
    generate_image_set,
    imagenet_labels,
    index_images,
    load_rgb,
)


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.jpg")):
        h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_generation_is_deterministic(tmp_path):
    a = generate_image_set(tmp_path / "a", 12, 64, 3, seed=5)
    b = generate_image_set(tmp_path / "b", 12, 64, 3, seed=5)
    generate_image_set(tmp_path / "c", 12, 64, 3, seed=6)
    assert a.equals(b) and _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(
        tmp_path / "c"
    )
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "class_000",
        "class_001",
        "class_002",
    ]


def test_generated_images_mix_photographs_and_procedural(image_set):
    img = load_rgb(next(image_set.rglob("*.jpg")))
    assert img.size == (96, 96) and img.mode == "RGB"


def test_index_is_sorted_with_classes(image_set, tmp_path):
    df = index_images(image_set)
    assert len(df) == 40 and df["path"].tolist() == sorted(df["path"])
    assert set(df["class"]) == {"class_000", "class_001", "class_002", "class_003"}
    lst = tmp_path / "list.txt"
    lst.write_text("class_001/img_000001.jpg\nclass_000/img_000000.jpg\n")
    assert index_images(image_set, lst)["path"].tolist() == [
        "class_000/img_000000.jpg",
        "class_001/img_000001.jpg",
    ]


def test_missing_root_and_missing_listed_image(tmp_path, image_set):
    with pytest.raises(FileNotFoundError, match="images.root"):
        index_images(tmp_path / "imagenet" / "train")
    lst = tmp_path / "list.txt"
    lst.write_text("class_000/missing.jpg\n")
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        index_images(image_set, lst)


def test_imagenet_labels_from_synset_folders():
    import pandas as pd

    labels = imagenet_labels(pd.Series(["n01440764", "n01443537", "class_000"]))
    assert labels.tolist() == [0, 1, -1]


def test_corrupt_image_is_reported_not_fatal(tmp_path, image_set):
    import torchvision.transforms as T

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    good = next(image_set.rglob("*.jpg"))
    ds = ImageDataset(
        tmp_path,
        ["bad.jpg", str(good)],
        T.Compose([T.Resize(32), T.CenterCrop(32), T.ToTensor()]),
        32,
    )
    x, i, err = ds[0]
    assert i == 0 and x.shape == (3, 32, 32) and "Error" in err
    assert ds[1][2] == ""


def test_cmyk_and_grey_are_converted(tmp_path):
    from PIL import Image

    Image.new("CMYK", (10, 10), (0, 255, 0, 0)).save(tmp_path / "c.jpg")
    Image.new("L", (10, 10), 128).save(tmp_path / "g.png")
    assert load_rgb(tmp_path / "c.jpg").mode == load_rgb(tmp_path / "g.png").mode == "RGB"
