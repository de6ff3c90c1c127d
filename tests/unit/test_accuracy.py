"""Accuracy check: labelled sets, heads (plain, Lucid 1008-way, CLIP zero-shot), pass and fail."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import LABELLED_PHOTOS
from script_runner import mock_snakemake, run_script
from unitpsych.accuracy import top1 as A
from unitpsych.images import imagenet_synsets, load_rgb
from unitpsych.models.registry import load_model


def _manual_top1(model, root, table) -> float:
    """Top-1 from one plain forward pass per image (the model's own transform)."""
    hits = []
    for path, label in zip(table["path"], table["label"], strict=True):
        with torch.no_grad():
            logits = model.module(model.transform()(load_rgb(root / path))[None])
        hits.append(int(logits.argmax()) == label)
    return float(np.mean(hits))


def test_labels_file_takes_indices_and_synsets_and_names_bad_lines(tmp_path, labelled_photos):
    root, labels = labelled_photos
    table = A.labelled_set(root, labels)
    assert len(table) == len(LABELLED_PHOTOS) and table["path"].is_monotonic_increasing
    by_path = dict(zip(table["path"], table["label"], strict=True))
    assert by_path["skimage_chelsea.png"] == 281 and by_path["skimage_coffee.png"] == 968
    bad = tmp_path / "bad.txt"
    bad.write_text("# comment\na.png 3\nb.png n99999999\n")
    with pytest.raises(ValueError, match=r"bad.txt:3: 'n99999999'"):
        A.read_labels_file(bad)
    bad.write_text("a.png 1000\n")
    with pytest.raises(ValueError, match=r"bad.txt:1: class index 1000"):
        A.read_labels_file(bad)
    bad.write_text("missing.png 3\n")
    with pytest.raises(FileNotFoundError, match="missing.png"):
        A.labelled_set(root, bad)


def test_synset_folders_label_the_images_without_a_labels_file(tmp_path, labelled_photos):
    root = tmp_path / "val"
    for synset in ("n02123045", "n03376595"):  # tabby cat, folding chair
        (root / synset).mkdir(parents=True)
        (root / synset / "x.png").write_bytes(
            (labelled_photos[0] / "skimage_chelsea.png").read_bytes()
        )
    table = A.labelled_set(root)
    assert table["label"].tolist() == [281, imagenet_synsets()["n03376595"]]
    (root / "cats").mkdir()
    (root / "cats" / "y.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"\['cats'\] are not ImageNet synsets"):
        A.labelled_set(root)


def test_expected_value_from_config_then_registry_and_none_for_random_weights():
    assert A.expected_accuracy({"arch": "resnet50"}) == pytest.approx(0.7613)
    assert A.expected_accuracy({"arch": "clip-resnet50", "weights": "/w.pt"}) == pytest.approx(
        0.5983
    )
    assert A.expected_accuracy({"arch": "resnet50", "expected_accuracy": 0.5}) == 0.5
    assert A.expected_accuracy({"arch": "resnet50", "weights": "random"}) is None
    assert A.expected_accuracy({"arch": "efficientnet_lite0"}) is None  # not in the paper's table


def test_check_passes_at_the_measured_value_and_fails_away_from_it(labelled_photos, lite0):
    root, labels = labelled_photos
    table = A.labelled_set(root, labels)
    top1, unreadable = A.top1_accuracy(lite0, root, table, A.imagenet_head(lite0), batch_size=4)
    assert unreadable == 0
    assert top1 == pytest.approx(_manual_top1(lite0, root, table))
    assert top1 >= 0.5, "the ImageNet-trained lite0 names most of these photographs"

    def result(expected):
        return A.AccuracyResult("lite0", "efficientnet_lite0", top1, expected, 0.01, len(table), 0)

    A.check(result(top1 + 0.009))
    assert result(top1).as_dict()["passed"] is True
    with pytest.raises(A.AccuracyError, match=rf"lite0 .*{top1:.4f}.*expected {top1 + 0.2:.4f}"):
        A.check(result(top1 + 0.2))
    A.check(result(None))  # nothing to compare with: recorded, not failed
    assert result(None).as_dict()["passed"] is None


def test_an_untrained_checkpoint_fails_the_check(labelled_photos, lite0):
    root, labels = labelled_photos
    table = A.labelled_set(root, labels)
    trained, _ = A.top1_accuracy(lite0, root, table, A.imagenet_head(lite0))
    untrained = load_model("lite0", {"arch": "efficientnet_lite0", "weights": "random"})
    top1, _ = A.top1_accuracy(untrained, root, table, A.imagenet_head(untrained))
    assert top1 < trained
    with pytest.raises(A.AccuracyError, match="expected"):
        A.check(A.AccuracyResult("lite0", "efficientnet_lite0", top1, trained, 0.01, len(table), 0))


def test_googlenet_head_picks_the_1000_imagenet_logits_of_lucids_1008(tmp_path):
    order = sorted(imagenet_synsets(), key=imagenet_synsets().get)
    shuffled = [order[i] for i in np.random.default_rng(0).permutation(1000)]
    synsets = tmp_path / "ImageNet_alternate_synsets.txt"
    synsets.write_text("\n".join(shuffled) + "\n")  # no background line: logit = line + 1
    index = A.lucid_logit_indices(synsets)
    assert index[imagenet_synsets()[shuffled[0]]] == 1 and sorted(index) == list(range(1, 1001))
    synsets.write_text("\n".join(["dummy", *shuffled]) + "\n")
    assert np.array_equal(A.lucid_logit_indices(synsets), index)
    googlenet = load_model("googlenet", {"arch": "googlenet", "weights": "random"})
    with torch.no_grad():
        out = googlenet.module(torch.zeros(2, 3, 229, 229))
    assert out.shape == (2, 1008)  # lucent's InceptionV1 keeps Lucid's classifier head
    logits = A.imagenet_head(googlenet, synsets)(out)
    assert logits.shape == (2, 1000)
    assert torch.equal(logits[:, 281], out[:, index[281]])
    synsets.write_text("\n".join(shuffled[:-1]) + "\n")
    with pytest.raises(ValueError, match="lacks 1 ImageNet synsets"):
        A.lucid_logit_indices(synsets)


def test_clip_zero_shot_head(monkeypatch):
    """The real code path on an untrained CLIP RN50, with three classes and two templates."""
    clip = load_model("clip-resnet50", {"arch": "clip-resnet50", "weights": "random"})
    classes = ["tabby cat", "coffee mug", "rocket"]
    weights = A.clip_zero_shot_classifier(
        clip, classes, [lambda c: f"a photo of a {c}.", lambda c: c]
    )
    assert weights.shape == (1024, 3)
    assert torch.allclose(weights.norm(dim=0), torch.ones(3), atol=1e-5)
    monkeypatch.setattr(A, "clip_zero_shot_classifier", lambda model: weights)
    with torch.no_grad():
        embedding = clip.module(torch.randn(2, 3, 224, 224))
    logits = A.imagenet_head(clip)(embedding)
    expected = 100 * torch.nn.functional.normalize(embedding, dim=-1) @ weights
    assert torch.allclose(logits, expected)


def test_script_writes_accuracy_json_or_fails_naming_model_and_numbers(
    tmp_path, labelled_photos, lite0
):
    root, labels = labelled_photos
    table = A.labelled_set(root, labels)
    measured = _manual_top1(lite0, root, table)

    def run(expected, out):
        model = {
            "name": "efficientnet_lite0",
            "arch": "efficientnet_lite0",
            "weights": "pretrained",
            "expected_accuracy": expected,
        }
        smk = mock_snakemake(
            params={
                "model": model,
                "seed": 42,
                "accuracy": {"root": str(root), "labels": str(labels), "tolerance": 0.01},
            },
            config={"images": {"batch_size": 4, "num_workers": 0}},
            output={"json": out},
            log=[tmp_path / "log.txt"],
        )
        run_script("check_accuracy", smk)

    run(measured, tmp_path / "ok.json")
    record = json.loads((tmp_path / "ok.json").read_text())
    assert record["top1"] == pytest.approx(measured) and record["passed"] is True
    assert record["n_images"] == len(LABELLED_PHOTOS) and record["tolerance"] == 0.01
    with pytest.raises(A.AccuracyError, match=rf"efficientnet_lite0 .*{measured:.4f}.*0\.1000"):
        run(0.1, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()
