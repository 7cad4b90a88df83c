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

Metrics are looked up by name in :data:`METRICS` (a dataset names its metric), so another
dataset (AVA's frame mAP) plugs in by adding a function ``(scores, labels) -> dict``.

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
