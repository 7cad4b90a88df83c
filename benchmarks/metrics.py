"""Scores of finished videos -> the published metrics (percentages).

- :func:`topk_accuracy` (Kinetics-400, SSv2): the share of videos whose true class is among
  the ``k`` highest scores. **Ties count against the model**: the true class is in the top
  ``k`` only when fewer than ``k`` *other* classes score at least as high, so a constant
  output never scores, and the result does not depend on how a sort orders equal values.
- :func:`mean_average_precision` (Charades): average precision per class, averaged over the
  classes that have at least one positive video; a class without positives has no defined
  AP and is **skipped** (as PySlowFast's ``get_map`` does), and how many were skipped is
  reported. AP is the area under the precision-recall steps, equal scores forming one step
  (scikit-learn's ``average_precision_score``): ``sum_n (R_n - R_{n-1}) P_n``.

- :func:`frame_map` (AVA): per-class PASCAL VOC AP of detected boxes matched per frame at
  IoU >= 0.5, averaged over the classes with ground truth (see its docstring). It takes
  boxes, not a score matrix, so it is called by :mod:`benchmarks.ava.evaluate` directly.

Metrics of a score matrix are looked up by name in :data:`METRICS` (a dataset names its
metric): another one plugs in by adding a function ``(scores, labels) -> dict``.

Example:
    >>> import numpy as np
    >>> topk_accuracy(np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]]), [2, 0], ks=(1, 2))
    {'top1': 50.0, 'top2': 100.0}
    >>> mean_average_precision(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.3]]), [[0], [0], [1]])
    {'map': 66.66666666666666, 'map_classes': 2, 'map_classes_skipped': 0}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def topk_accuracy(scores, labels: Sequence[int], ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Top-k accuracy in percent for each ``k`` (ties count against; see the module docstring).

    ``scores``: ``(N, C)``; ``labels``: ``N`` class indices.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if scores.ndim != 2 or len(scores) != len(labels):
        raise ValueError(f"scores {scores.shape} and {len(labels)} labels do not match")
    if len(labels) == 0:
        return {f"top{k}": float("nan") for k in ks}
    if labels.min() < 0 or labels.max() >= scores.shape[1]:
        raise ValueError(f"labels must lie in [0, {scores.shape[1]}); got {labels.min()}..{labels.max()}")
    true = scores[np.arange(len(labels)), labels]
    # Other classes scoring at least as high as the true one (the true class itself excluded).
    rivals = (scores >= true[:, None]).sum(axis=1) - 1
    return {f"top{k}": float((rivals < k).mean() * 100.0) for k in ks}


def average_precision(scores, positives) -> float:
    """AP of one class: ``scores`` ``(N,)``, ``positives`` ``(N,)`` booleans (at least one true)."""
    scores = np.asarray(scores, dtype=np.float64)
    positives = np.asarray(positives, dtype=bool)
    total = positives.sum()
    if total == 0:
        raise ValueError("average precision is undefined without positives")
    order = np.argsort(-scores, kind="stable")
    s, p = scores[order], positives[order]
    # Close a step only where the score changes: tied scores enter together.
    last_of_run = np.r_[s[1:] != s[:-1], True]
    tp = np.cumsum(p)[last_of_run]
    seen = np.arange(1, len(s) + 1)[last_of_run]
    precision = tp / seen
    recall = tp / total
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def mean_average_precision(scores, labels: Sequence[Sequence[int]]) -> dict[str, float]:
    """mAP in percent over classes with a positive; ``labels``: class indices per video."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or len(scores) != len(labels):
        raise ValueError(f"scores {scores.shape} and {len(labels)} label sets do not match")
    truth = np.zeros(scores.shape, dtype=bool)
    for i, classes in enumerate(labels):
        truth[i, list(classes)] = True
    present = truth.any(axis=0)
    aps = [average_precision(scores[:, c], truth[:, c]) for c in np.flatnonzero(present)]
    value = float(np.mean(aps) * 100.0) if aps else float("nan")
    return {"map": value, "map_classes": int(present.sum()), "map_classes_skipped": int((~present).sum())}


#: Metric name -> function ``(scores (N, C), labels) -> {name: value}``.
METRICS: dict[str, Callable[..., dict]] = {
    "topk": topk_accuracy,
    "map": mean_average_precision,
}


def compute(metric: str, scores, labels) -> dict[str, float]:
    """Run metric ``metric`` (a key of :data:`METRICS`)."""
    if metric not in METRICS:
        raise KeyError(f"unknown metric {metric!r}; known: {sorted(METRICS)}")
    return METRICS[metric](scores, labels)


# --------------------------------------------------------------------------- AVA frame mAP


def box_iou(a, b) -> np.ndarray:
    """IoU of ``(N, 4)`` against ``(M, 4)`` boxes ``[x1, y1, x2, y2]`` -> ``(N, M)``.

    Areas are continuous (``(x2 - x1) * (y2 - y1)``, no ``+1``), as AVA's normalised boxes need.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    left = np.maximum(a[:, None, 0], b[None, :, 0])
    top = np.maximum(a[:, None, 1], b[None, :, 1])
    right = np.minimum(a[:, None, 2], b[None, :, 2])
    bottom = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def voc_average_precision(true_positive: Sequence[bool], num_truth: int) -> float:
    """PASCAL VOC AP of detections already ranked by score (best first).

    Precision is made non-increasing in recall (each point takes the best precision at any
    higher recall), then summed over the recall steps: ``sum (R_n - R_{n-1}) * Pinterp_n``.
    No detections: 0.
    """
    tp = np.asarray(true_positive, dtype=bool)
    if num_truth <= 0:
        raise ValueError("AP is undefined for a class without ground truth")
    if tp.size == 0:
        return 0.0
    hits = np.cumsum(tp)
    precision = hits / np.arange(1, tp.size + 1)
    recall = hits / num_truth
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.diff(np.r_[0.0, recall])
    return float(np.sum(steps * envelope))


def box_columns(rows, scored: bool):
    """Rows ``(key, x1, y1, x2, y2, class[, score])`` -> ``keys, boxes (N, 4), classes, scores``.

    ``rows`` may already be columns: a dict with ``key`` (sequence of frame keys), ``boxes``,
    ``classes`` and (detections) ``scores`` arrays, as :func:`benchmarks.ava.annotations.read_detection_columns`
    gives for millions of rows.
    """
    if isinstance(rows, dict):
        keys = rows["key"]
        boxes = np.asarray(rows["boxes"], dtype=np.float64).reshape(-1, 4)
        classes = np.asarray(rows["classes"], dtype=np.int64)
        scores = np.asarray(rows["scores"], dtype=np.float64) if scored else None
        return keys, boxes, classes, scores
    rows = list(rows)
    keys = [r[0] for r in rows]
    boxes = np.array([r[1:5] for r in rows], dtype=np.float64).reshape(-1, 4)
    classes = np.array([int(r[5]) for r in rows], dtype=np.int64)
    scores = np.array([float(r[6]) for r in rows], dtype=np.float64) if scored else None
    return keys, boxes, classes, scores


def frame_map(
    ground_truth,
    detections,
    class_ids,
    *,
    excluded=(),
    iou_threshold: float = 0.5,
    match_order: str = "score",
) -> dict:
    """AVA frame mAP (percent): per-class VOC AP of boxes matched per frame at IoU >= 0.5.

    ``ground_truth``: rows ``(key, x1, y1, x2, y2, class)``; ``detections``: rows
    ``(key, x1, y1, x2, y2, class, score)``; ``key`` names a frame (AVA: ``(video, second)``);
    ``class_ids``: the evaluated classes (AVA's label map: 60 of the model's 80 actions);
    rows of other classes are ignored, as are rows whose key is in ``excluded``.

    Within a frame and class, detections take ground-truth boxes greedily, highest score
    first (``match_order="input"``: in row order, as the official ActivityNet code does): a
    detection is a true positive when its best-overlapping box of that class (the first on
    ties) has IoU >= ``iou_threshold`` and no earlier detection took it; otherwise (an
    already taken box, a low overlap, a frame without such a box) it is a false positive.
    Detections with an empty box (``x1 >= x2`` or ``y1 >= y2``) are dropped, not counted,
    as the official code does. A class's detections over all frames are then ranked by score
    (ties keep row order) and scored by :func:`voc_average_precision`; a class without
    ground truth has no AP and is left out of the mean (the official code's NaN and
    ``nanmean``); a class with ground truth but no detections scores 0.

    Returns ``map``, ``per_class_ap`` (class -> AP in percent, ``None`` without ground truth),
    ``map_classes`` (classes averaged), ``classes_without_truth`` (sorted ids),
    ``truth_boxes`` and ``detections`` (rows counted).

    Example:
        >>> gt = [(("v", 902), 0.1, 0.1, 0.5, 0.5, 1)]
        >>> det = [(("v", 902), 0.1, 0.1, 0.5, 0.5, 1, 0.9), (("v", 902), 0.6, 0.6, 0.9, 0.9, 1, 0.95)]
        >>> frame_map(gt, det, [1, 2])["map"]
        50.0
    """
    if match_order not in ("score", "input"):
        raise ValueError(f"match_order must be 'score' or 'input', got {match_order!r}")
    classes = sorted({int(c) for c in class_ids})
    excluded = set(excluded)
    gt_keys, gt_boxes, gt_cls, _ = box_columns(ground_truth, scored=False)
    dt_keys, dt_boxes, dt_cls, dt_score = box_columns(detections, scored=True)

    def kept(keys, cls):
        mask = np.isin(cls, classes)
        if excluded and isinstance(keys, np.ndarray) and keys.dtype.kind in "iu":
            mask &= ~np.isin(keys, np.fromiter(excluded, dtype=np.int64))
        elif excluded:
            mask &= np.fromiter((k not in excluded for k in keys), dtype=bool, count=len(keys))
        return mask

    gt_mask = kept(gt_keys, gt_cls)
    dt_mask = kept(dt_keys, dt_cls) & (dt_boxes[:, 0] < dt_boxes[:, 2]) & (dt_boxes[:, 1] < dt_boxes[:, 3])
    # frames as integers, shared by truth and detections
    if all(isinstance(k, np.ndarray) and k.dtype.kind in "iu" for k in (gt_keys, dt_keys)):
        gt_frame, dt_frame = np.asarray(gt_keys, dtype=np.int64), np.asarray(dt_keys, dtype=np.int64)  # already integers
    else:
        frame_of: dict = {}
        gt_frame = np.fromiter((frame_of.setdefault(k, len(frame_of)) for k in gt_keys), dtype=np.int64, count=len(gt_keys))
        dt_frame = np.fromiter((frame_of.setdefault(k, len(frame_of)) for k in dt_keys), dtype=np.int64, count=len(dt_keys))
    gt_idx, dt_idx = np.flatnonzero(gt_mask), np.flatnonzero(dt_mask)
    rows = np.arange(len(dt_keys))

    per_class: dict[int, float | None] = {}
    for cls in classes:
        g = gt_idx[gt_cls[gt_idx] == cls]
        if len(g) == 0:
            per_class[cls] = None
            continue
        d = dt_idx[dt_cls[dt_idx] == cls]
        # matching order within a frame: by score (ties: row order), or the rows' own order
        within = (rows[d], -dt_score[d], dt_frame[d]) if match_order == "score" else (rows[d], dt_frame[d])
        d = d[np.lexsort(within)]
        hit = np.zeros(len(d), dtype=bool)
        frames = dt_frame[d]
        g = g[np.argsort(gt_frame[g], kind="stable")]
        g_frames = gt_frame[g]
        for frame in np.unique(g_frames[np.isin(g_frames, frames)]):
            truth_boxes = gt_boxes[g[np.searchsorted(g_frames, frame) : np.searchsorted(g_frames, frame, side="right")]]
            lo, hi = np.searchsorted(frames, frame), np.searchsorted(frames, frame, side="right")
            overlaps = box_iou(dt_boxes[d[lo:hi]], truth_boxes)
            taken = np.zeros(len(truth_boxes), dtype=bool)
            for i, row in enumerate(overlaps):
                best = int(np.argmax(row))  # the best-overlapping box, the first on ties
                if row[best] >= iou_threshold and not taken[best]:
                    taken[best] = hit[lo + i] = True
        ranking = np.lexsort((rows[d], -dt_score[d]))  # by score; ties keep row order
        per_class[cls] = voc_average_precision(hit[ranking], len(g)) * 100.0
    n_truth, n_det = int(gt_mask.sum()), int(dt_mask.sum())
    scored = [ap for ap in per_class.values() if ap is not None]
    return {
        "map": float(np.mean(scored)) if scored else float("nan"),
        "per_class_ap": per_class,
        "map_classes": len(scored),
        "classes_without_truth": [c for c, ap in per_class.items() if ap is None],
        "truth_boxes": n_truth,
        "detections": n_det,
    }
