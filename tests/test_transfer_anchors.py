"""Peers' published fine-tuning from Kinetics-400 weights: catalogue data with their sources."""

import pytest

from zoo.catalog import load_transfer_anchors


def test_anchors_are_sourced_kinetics400_fine_tunings():
    anchors = load_transfer_anchors()
    assert {a["dataset"] for a in anchors} == {"ucf101", "hmdb51"}
    for a in anchors:
        assert a["pretrain"] == "Kinetics-400" and a["split"] == 1
        assert 0 < a["top1"] <= a["top5"] <= 100
        assert a["repo"] == "open-mmlab/mmaction2" and a["tag"] == "v0.24.1"
        assert a["source"].endswith("README.md") and a["config"].endswith(a["name"] + ".py")
        assert a["dataset"] in a["name"]
    assert [a["name"] for a in load_transfer_anchors("hmdb51")] == [a["name"] for a in anchors if a["dataset"] == "hmdb51"]
    with pytest.raises(ValueError, match="ucf101 or hmdb51"):
        load_transfer_anchors("kinetics400")
