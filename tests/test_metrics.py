"""benchmarks.metrics against hand-computed values."""

import math

import numpy as np
import pytest

from benchmarks.metrics import METRICS, average_precision, compute, mean_average_precision, topk_accuracy


def test_topk_hand_computed():
    scores = np.array(
        [
            [0.5, 0.2, 0.1, 0.1, 0.1],  # label 0: rank 1
            [0.4, 0.3, 0.2, 0.05, 0.05],  # label 2: rank 3
            [0.1, 0.2, 0.3, 0.4, 0.0],  # label 4: rank 5
            [0.0, 0.0, 0.0, 0.1, 0.9],  # label 3: rank 2
        ]
    )
    got = topk_accuracy(scores, [0, 2, 4, 3], ks=(1, 2, 3, 5))
    assert got == {"top1": 25.0, "top2": 50.0, "top3": 75.0, "top5": 100.0}


def test_topk_ties_count_against_the_model():
    # label 1 ties with class 0 for the top: two classes >= it -> not top-1, but top-2
    scores = np.array([[0.4, 0.4, 0.2], [0.3, 0.3, 0.3], [0.1, 0.6, 0.3]])
    got = topk_accuracy(scores, [1, 0, 1], ks=(1, 2, 3))
    # video 0: one rival tied -> top2; video 1: two rivals tied -> top3 only; video 2: top1
    assert got == {"top1": pytest.approx(100 / 3), "top2": pytest.approx(200 / 3), "top3": 100.0}
    # a constant output never scores top-1, whatever the label
    assert topk_accuracy(np.zeros((4, 5)), [0, 1, 2, 3], ks=(1,))["top1"] == 0.0


def test_topk_rejects_bad_labels():
    with pytest.raises(ValueError, match="labels"):
        topk_accuracy(np.zeros((1, 3)), [3])


def test_average_precision_hand_computed():
    # ranked: P N P N P -> precisions at positives 1, 2/3, 3/5 -> mean 0.7555...
    assert average_precision([0.9, 0.8, 0.7, 0.6, 0.5], [1, 0, 1, 0, 1]) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    # tie between a positive and a negative forms one step: P (0.9), then {P, N} at 0.5
    # steps: recall 1/2 at precision 1, recall 1 at precision 2/3 -> 0.5 + 0.5 * 2/3
    assert average_precision([0.9, 0.5, 0.5], [1, 1, 0]) == pytest.approx(0.5 + 1 / 3)


def test_map_skips_a_class_without_positives():
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.4], [0.6, 0.3, 0.9]])
    labels = [[0], [0], [1]]  # class 2 has no positive video
    got = mean_average_precision(scores, labels)
    # class 0: .9 P, .6 N, .2 P -> (1 + 2/3) / 2 ; class 1: .8 N, .3 P, .1 N -> 1/2
    assert got["map"] == pytest.approx(((1 + 2 / 3) / 2 + 0.5) / 2 * 100)
    assert got["map_classes"] == 2 and got["map_classes_skipped"] == 1


def test_map_multilabel_video_and_empty_video():
    scores = np.array([[0.9, 0.8], [0.1, 0.2], [0.5, 0.1]])
    got = mean_average_precision(scores, [[0, 1], [], [0]])
    # class 0: .9 P, .5 P -> 1 ; class 1: .8 P -> 1
    assert got["map"] == pytest.approx(100.0)


def test_metrics_are_pluggable_by_name():
    assert set(METRICS) >= {"topk", "map"}
    assert compute("topk", np.eye(3), [0, 1, 2])["top1"] == 100.0
    with pytest.raises(KeyError, match="unknown metric"):
        compute("nope", np.eye(3), [0, 1, 2])
    assert math.isnan(mean_average_precision(np.zeros((2, 2)), [[], []])["map"])
