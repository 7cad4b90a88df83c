"""AVA frame mAP (benchmarks.metrics.frame_map): hand-computed cases, an independent brute-force
computation on random detections, and the official ActivityNet evaluator (from the PySlowFast
mirror, skipped when it is absent) as an oracle."""

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.metrics import box_iou, frame_map, voc_average_precision

F1, F2 = ("vid", 902), ("vid", 903)
A = (0.1, 0.1, 0.4, 0.6)
B = (0.5, 0.2, 0.9, 0.8)


def gt(key, box, cls):
    return (key, *box, cls)


def det(key, box, cls, score):
    return (key, *box, cls, score)


def test_perfect_detections_score_100():
    truth = [gt(F1, A, 1), gt(F1, B, 2), gt(F2, A, 1)]
    dets = [det(F1, A, 1, 0.9), det(F1, B, 2, 0.8), det(F2, A, 1, 0.7)]
    result = frame_map(truth, dets, [1, 2])
    assert result["map"] == pytest.approx(100.0)
    assert result["per_class_ap"] == {1: pytest.approx(100.0), 2: pytest.approx(100.0)}


def test_missed_box_halves_recall():
    truth = [gt(F1, A, 1), gt(F1, B, 1)]
    result = frame_map(truth, [det(F1, A, 1, 0.9)], [1])
    assert result["map"] == pytest.approx(50.0)  # precision 1 up to recall 1/2, nothing after


def test_duplicate_detection_is_a_false_positive():
    # ranked: TP (A), FP (second box on A), TP (B): P = 1, 1/2, 2/3; R = 1/2, 1/2, 1
    # interpolated precision at R=1/2 is 1, at R=1 it is 2/3: AP = 1/2 * 1 + 1/2 * 2/3
    truth = [gt(F1, A, 1), gt(F1, B, 1)]
    dets = [det(F1, A, 1, 0.9), det(F1, A, 1, 0.8), det(F1, B, 1, 0.7)]
    assert frame_map(truth, dets, [1])["map"] == pytest.approx((0.5 + 0.5 * 2 / 3) * 100)


def test_wrong_class_counts_against_that_class():
    # class 1: its box has no detection (AP 0); class 2: the wrong-class box ranks first (FP),
    # then the right one (TP): P = 0, 1/2 at R = 0, 1 -> AP 1/2.
    truth = [gt(F1, A, 1), gt(F2, B, 2)]
    dets = [det(F1, A, 2, 0.9), det(F2, B, 2, 0.8)]
    result = frame_map(truth, dets, [1, 2])
    assert result["per_class_ap"] == {1: 0.0, 2: pytest.approx(50.0)}
    assert result["map"] == pytest.approx(25.0)


def test_iou_at_and_just_under_half():
    box = (0.0, 0.0, 0.5, 0.5)
    at_half = (0.0, 0.0, 0.5, 0.25)  # exactly half the area: IoU 0.5 (binary fractions, exact)
    under = (0.0, 0.0, 0.5, 0.2499)
    over = (0.0, 0.0, 0.5, 0.2501)
    assert box_iou([at_half], [box])[0, 0] == 0.5
    assert frame_map([gt(F1, box, 1)], [det(F1, at_half, 1, 0.9)], [1])["map"] == pytest.approx(100.0)
    assert frame_map([gt(F1, box, 1)], [det(F1, over, 1, 0.9)], [1])["map"] == pytest.approx(100.0)
    assert frame_map([gt(F1, box, 1)], [det(F1, under, 1, 0.9)], [1])["map"] == 0.0


def test_class_without_ground_truth_is_left_out_of_the_mean():
    truth = [gt(F1, A, 1)]
    dets = [det(F1, A, 1, 0.9), det(F1, B, 3, 0.95)]  # class 3: only false positives, no truth
    result = frame_map(truth, dets, [1, 3])
    assert result["per_class_ap"][3] is None
    assert result["classes_without_truth"] == [3]
    assert result["map_classes"] == 1
    assert result["map"] == pytest.approx(100.0)


def test_excluded_timestamp_is_dropped_from_truth_and_detections():
    truth = [gt(F1, A, 1), gt(F2, A, 1)]
    dets = [det(F1, A, 1, 0.9), det(F2, B, 1, 0.95)]  # F2: a miss and a false positive
    assert frame_map(truth, dets, [1])["map"] == pytest.approx(25.0)  # FP, TP: P 0, 1/2 at R 0, 1/2
    result = frame_map(truth, dets, [1], excluded={F2})
    assert result["map"] == pytest.approx(100.0)
    assert result["truth_boxes"] == 1 and result["detections"] == 1


def test_classes_outside_the_label_map_and_empty_boxes_are_ignored():
    truth = [gt(F1, A, 1), gt(F1, A, 7)]
    dets = [det(F1, A, 1, 0.5), det(F1, (0.3, 0.3, 0.3, 0.6), 1, 0.99), det(F1, A, 7, 0.9)]
    result = frame_map(truth, dets, [1])
    assert result["map"] == pytest.approx(100.0)  # the empty box is dropped, not a false positive
    assert set(result["per_class_ap"]) == {1}


def test_match_order_score_versus_the_official_row_order():
    # Two boxes on the same truth: by score the 0.9 one takes it (AP 1); in row order (the
    # official code) the earlier 0.6 one does, and the 0.9 one ranks first as a FP (AP 1/2).
    truth = [gt(F1, A, 1)]
    dets = [det(F1, A, 1, 0.6), det(F1, A, 1, 0.9)]
    assert frame_map(truth, dets, [1])["map"] == pytest.approx(100.0)
    assert frame_map(truth, dets, [1], match_order="input")["map"] == pytest.approx(50.0)


def test_no_detections_and_voc_interpolation():
    assert frame_map([gt(F1, A, 1)], [], [1])["map"] == 0.0
    # precision 1/2 at recall 1/2 is lifted to the 2/3 reached later
    assert voc_average_precision([False, True, True], 2) == pytest.approx(2 / 3)


# --------------------------------------------------------------------------- random detections


def random_case(seed: int, frames: int = 6, classes=(1, 2, 3, 4)):
    rng = np.random.default_rng(seed)
    truth, dets = [], []
    for f in range(frames):
        key = ("v%d" % (f % 2), 902 + f)
        for _ in range(rng.integers(0, 4)):
            x1, y1 = rng.uniform(0, 0.6, 2)
            box = (x1, y1, x1 + rng.uniform(0.1, 0.4), y1 + rng.uniform(0.1, 0.4))
            labels = rng.choice(classes, size=rng.integers(1, 3), replace=False)
            for c in labels:
                truth.append((key, *box, int(c)))
            # detections: the box, jittered (some IoU above 0.5, some below), for several classes
            for _ in range(rng.integers(1, 3)):
                jitter = rng.normal(0, 0.06, 4)
                dbox = tuple(np.clip(np.array(box) + jitter, 0, 1))
                for c in classes:
                    dets.append((key, *dbox, int(c), float(rng.uniform())))
        for _ in range(rng.integers(0, 2)):  # background boxes
            x1, y1 = rng.uniform(0, 0.7, 2)
            dbox = (x1, y1, x1 + 0.2, y1 + 0.2)
            dets.append((key, *dbox, int(rng.choice(classes)), float(rng.uniform())))
    return truth, dets


def brute_force_map(truth, dets, classes, threshold=0.5):
    """Precision/recall at every cut of the ranked list, recomputing the matching from scratch."""

    def iou(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = w * h
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / union

    aps = []
    for c in classes:
        gts = [(t[0], t[1:5]) for t in truth if t[5] == c]
        if not gts:
            continue
        # empty boxes (x1 >= x2 or y1 >= y2) are not detections (the official evaluator drops them)
        ranked = sorted([(d[6], d[0], d[1:5]) for d in dets if d[5] == c and d[1] < d[3] and d[2] < d[4]],
                        key=lambda d: -d[0])
        points = []
        for k in range(1, len(ranked) + 1):
            top = ranked[:k]
            used = set()
            tp = 0
            for score, key, box in top:  # already by score
                cands = [(i, iou(box, g)) for i, (gk, g) in enumerate(gts) if gk == key]
                if not cands:
                    continue
                best_i, best = max(cands, key=lambda x: (x[1], -x[0]))
                if best >= threshold and best_i not in used:
                    used.add(best_i)
                    tp += 1
            points.append((tp / len(gts), tp / k))
        ap, previous_recall = 0.0, 0.0
        for i, (recall, _) in enumerate(points):
            if recall > previous_recall:
                ap += (recall - previous_recall) * max(p for _, p in points[i:])
                previous_recall = recall
        aps.append(ap)
    return 100.0 * sum(aps) / len(aps)


@pytest.mark.parametrize("seed", range(8))
def test_random_detections_match_brute_force(seed):
    truth, dets = random_case(seed)
    classes = [1, 2, 3, 4]
    assert frame_map(truth, dets, classes)["map"] == pytest.approx(brute_force_map(truth, dets, classes), abs=1e-9)


# --------------------------------------------------------------------------- the official evaluator

SLOWFAST = Path("/work/.mirror/facebookresearch+SlowFast/repo")


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """The ActivityNet evaluator shipped with PySlowFast (``ava_evaluation/``), as an oracle."""
    if not SLOWFAST.exists():
        pytest.skip("PySlowFast mirror not on this machine")
    root = tmp_path_factory.mktemp("official")
    package = root / "ava_evaluation"
    package.mkdir()
    names = subprocess.run(["git", "-C", str(SLOWFAST), "ls-tree", "--name-only", "HEAD", "ava_evaluation/"],
                           capture_output=True, text=True, check=True).stdout.split()
    for name in names:
        if name.endswith(".py"):
            source = subprocess.run(["git", "-C", str(SLOWFAST), "show", f"HEAD:{name}"], capture_output=True, text=True, check=True).stdout
            (root / name).write_text(source)
    (package / "__init__.py").touch()
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module("ava_evaluation.object_detection_evaluation")
    finally:
        sys.path.remove(str(root))


def official_map(module, truth, dets, classes):
    evaluator = module.PascalDetectionEvaluator([{"id": c, "name": str(c)} for c in classes])
    by_key = {}
    for key, x1, y1, x2, y2, c in truth:
        by_key.setdefault(key, []).append(([y1, x1, y2, x2], c))
    for key, rows in by_key.items():
        evaluator.add_single_ground_truth_image_info(key, {
            "groundtruth_boxes": np.array([r[0] for r in rows], dtype=float),
            "groundtruth_classes": np.array([r[1] for r in rows], dtype=int),
            "groundtruth_difficult": np.zeros(len(rows), dtype=bool),
        })
    by_key = {}
    for key, x1, y1, x2, y2, c, s in dets:
        by_key.setdefault(key, []).append(([y1, x1, y2, x2], c, s))
    for key, rows in by_key.items():
        evaluator.add_single_detected_image_info(key, {
            "detection_boxes": np.array([r[0] for r in rows], dtype=float),
            "detection_classes": np.array([r[1] for r in rows], dtype=int),
            "detection_scores": np.array([r[2] for r in rows], dtype=float),
        })
    metrics = evaluator.evaluate()
    return 100.0 * metrics["PascalBoxes_Precision/mAP@0.5IOU"]


@pytest.mark.parametrize("seed", range(8))
def test_random_detections_match_the_official_evaluator(official, seed):
    truth, dets = random_case(seed)
    classes = [1, 2, 3, 4, 5]  # 5 has no truth: NaN there, left out of the mean
    ours = frame_map(truth, dets, classes, match_order="input")["map"]
    assert ours == pytest.approx(official_map(official, truth, dets, classes), abs=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_columns_with_integer_frames_equal_rows(seed):
    truth, dets = random_case(seed)
    frames = {key: i for i, key in enumerate(sorted({r[0] for r in truth + dets}))}
    excluded = {sorted(frames)[1]}

    def columns(rows, scored):
        out = {"key": np.array([frames[r[0]] for r in rows]), "boxes": np.array([r[1:5] for r in rows]),
               "classes": np.array([r[5] for r in rows])}
        if scored:
            out["scores"] = np.array([r[6] for r in rows])
        return out

    for order in ("score", "input"):
        by_rows = frame_map(truth, dets, [1, 2, 3, 4], excluded=excluded, match_order=order)
        by_columns = frame_map(columns(truth, False), columns(dets, True), [1, 2, 3, 4],
                               excluded={frames[k] for k in excluded}, match_order=order)
        assert by_columns == by_rows
