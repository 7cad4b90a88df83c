"""Shipped class names: lengths, no duplicates, order against the sources named in zoo/classes/README.md."""

import re
import subprocess
from pathlib import Path

import pytest

import zoo
from zoo.classes import ClassListUnavailable, ava_evaluated, class_names

SLOWFAST_MIRROR = Path("/work/.mirror/facebookresearch+SlowFast/repo")


@pytest.mark.parametrize("dataset, length", [("kinetics400", 400), ("ssv2", 174), ("charades", 157), ("ava", 80), ("demo", 5)])
def test_lengths_match_the_heads_and_names_are_unique(dataset, length):
    names = class_names(dataset)
    assert len(names) == length == len(set(names))
    assert all(n == n.strip() and n for n in names)
    for entry in zoo.all_entries():
        if entry.dataset == dataset:
            assert entry.num_classes == length, entry.name


def test_kinetics_is_torchvision_categories_and_sorted():
    from torchvision.models.video import R3D_18_Weights

    names = class_names("kinetics400")
    assert names == list(R3D_18_Weights.KINETICS400_V1.meta["categories"])
    assert names == sorted(names)  # the order PyTorchVideo/PySlowFast index Kinetics by
    assert names.index("abseiling") == 0 and names.index("riding a bike") == 267 and names.index("zumba") == 399


def test_ssv2_is_labels_json_order():
    names = class_names("ssv2")
    assert names == sorted(names)
    assert names[0] == "Approaching something with your camera" and names[-1] == "Wiping something off of something"
    assert names.index("Pushing something from left to right") == 93


def test_charades_index_is_the_class_code():
    names = class_names("charades")
    assert names[0] == "Holding some clothes" and names[92] == "Watching/Looking outside of a window"
    assert names[147] == "Someone is cooking something" and names[156] == "Someone is eating something"


def test_ava_ids_and_the_60_evaluated():
    names = class_names("ava")
    evaluated = ava_evaluated()
    assert len(evaluated) == len(set(evaluated)) == 60 and evaluated == sorted(evaluated)
    # the 20 actions AVA does not evaluate (too few examples), by 1-based action id
    assert sorted(set(range(1, 81)) - {i + 1 for i in evaluated}) == [
        2, 16, 18, 19, 21, 23, 25, 31, 32, 33, 35, 39, 40, 42, 44, 50, 53, 55, 71, 75]
    assert names[0] == "bend/bow (at the waist)" and names[13] == "walk" and names[79] == "watch (a person)"


@pytest.mark.skipif(not SLOWFAST_MIRROR.is_dir(), reason="PySlowFast source mirror not on this machine")
def test_ava_names_equal_pyslowfast_evaluation_list():
    text = subprocess.run(
        ["git", "-C", str(SLOWFAST_MIRROR), "show", "HEAD:ava_evaluation/ava_action_list_v2.1_for_activitynet_2018.pbtxt.txt"],
        capture_output=True, text=True, check=True,
    ).stdout
    pairs = [(name, int(i)) for name, i in re.findall(r'name:\s*"([^"]+)"\s*id:\s*(\d+)', text)]
    assert len(pairs) == 60
    names = class_names("ava")
    assert [names[i - 1] for _, i in pairs] == [n for n, _ in pairs]
    assert [i - 1 for _, i in pairs] == ava_evaluated()


def test_demo_names_are_the_demo_sets():
    from benchmarks.demo.videos import CLASSES

    assert class_names(zoo.get_entry("i3d_tiny_8x4_demo")) == list(CLASSES)


def test_missing_list_says_where_the_official_one_is():
    with pytest.raises(ClassListUnavailable, match="--classes FILE"):
        class_names("kinetics700")
