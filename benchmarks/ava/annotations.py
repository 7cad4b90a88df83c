"""AVA v2.2 files: annotations, predicted person boxes, detections, label map, excluded timestamps.

All boxes are AVA's ``x1, y1, x2, y2`` in [0, 1] of the frame; a frame is named by its key
``(video, second)`` (the second as an integer, whatever its zero padding in the file).
A malformed row raises :class:`~benchmarks.datasets.AnnotationError` naming the file and line.

- **Annotations** (``ava_val_v2.2.csv``): ``video,timestamp,x1,y1,x2,y2,action,person``
  (the person id is optional; 7 columns are accepted as the official evaluator does).
- **Predicted person boxes** (``AVA.TEST_PREDICT_BOX_LISTS``, e.g.
  ``person_box_67091280_iou90/ava_detection_val_boxes_and_labels.csv``):
  ``video,timestamp,x1,y1,x2,y2,action,score`` with ``action`` empty or ``-1`` for a
  person box without label; only boxes with ``score >= threshold`` are kept, one per distinct
  coordinate text per frame (the reference keys boxes by their four coordinate strings).
- **Detections** (what ``zoo evaluate`` writes, the official result format):
  ``video,timestamp,x1,y1,x2,y2,action,score``.
- **Label map** (``ava_action_list_v2.2_for_activitynet_2019.pbtxt``): ``item { name: "..."
  id: N }`` blocks (``label_id`` also accepted); the ids are the evaluated classes (60).
- **Excluded timestamps** (``ava_val_excluded_timestamps_v2.2.csv``): ``video,timestamp``.

Example:
    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> path = os.path.join(root, "boxes.csv")
    >>> _ = open(path, "w").write("vid1,0902,0.1,0.2,0.5,0.9,,0.95\\nvid1,0902,0.6,0.2,0.9,0.9,,0.3\\n")
    >>> read_person_boxes(path, threshold=0.8)
    {('vid1', 902): [PersonBox(x1=0.1, y1=0.2, x2=0.5, y2=0.9, score=0.95)]}
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from benchmarks.datasets import AnnotationError
from zoo.input.keyframes import FrameKey, PersonBox  # the keyframe input's types, read from these files

def _rows(path):
    """``(line number, fields)`` of a CSV file, blank lines skipped."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    with open(path, newline="") as f:
        for number, row in enumerate(csv.reader(f), 1):
            if row and any(field.strip() for field in row):
                yield number, [field.strip() for field in row]


def _second(text: str, path, number: int) -> int:
    try:
        return int(text)
    except ValueError:
        raise AnnotationError(path, number, f"timestamp {text!r} is not a whole second") from None


def _coords(fields, path, number: int) -> tuple[float, float, float, float]:
    try:
        box = tuple(float(v) for v in fields)
    except ValueError:
        raise AnnotationError(path, number, f"box {','.join(fields)!r} is not four numbers") from None
    if not all(-0.05 <= v <= 1.05 for v in box):  # normalised (a little slack: detectors overshoot)
        raise AnnotationError(path, number, f"box {box} is not normalised to [0, 1]")
    return box


def _action(text: str, path, number: int, allow_empty: bool = False) -> int | None:
    if allow_empty and text in ("", "-1"):
        return None
    try:
        return int(text)
    except ValueError:
        raise AnnotationError(path, number, f"action {text!r} is not an integer class id") from None


def _score(text: str, path, number: int) -> float:
    try:
        return float(text)
    except ValueError:
        raise AnnotationError(path, number, f"score {text!r} is not a number") from None


def read_annotations(path, class_ids=None) -> list[tuple]:
    """Ground-truth rows ``((video, second), x1, y1, x2, y2, action)`` (the metric's input).

    ``class_ids``: keep only these actions (the label map's), as the official evaluator does.
    """
    rows = []
    for number, fields in _rows(path):
        if len(fields) not in (7, 8):
            raise AnnotationError(path, number, f"expected 7 or 8 columns (video,timestamp,x1,y1,x2,y2,action[,person]), got {len(fields)}")
        action = _action(fields[6], path, number)
        if class_ids is not None and action not in class_ids:
            continue
        rows.append(((fields[0], _second(fields[1], path, number)), *_coords(fields[2:6], path, number), action))
    return rows


def read_detections(path, class_ids=None) -> list[tuple]:
    """Detection rows ``((video, second), x1, y1, x2, y2, action, score)`` from a results CSV."""
    rows = []
    for number, fields in _rows(path):
        if len(fields) != 8:
            raise AnnotationError(path, number, f"expected 8 columns (video,timestamp,x1,y1,x2,y2,action,score), got {len(fields)}")
        action = _action(fields[6], path, number)
        if class_ids is not None and action not in class_ids:
            continue
        key = (fields[0], _second(fields[1], path, number))
        rows.append((key, *_coords(fields[2:6], path, number), action, _score(fields[7], path, number)))
    return rows


def read_detection_columns(path) -> dict:
    """A results CSV as columns (millions of rows: the whole AVA validation set is ~5 M).

    Returns ``video`` (object array), ``second``, ``boxes`` ``(N, 4)``, ``classes``, ``scores``.
    Read with pandas; a file it cannot take as eight clean columns is read again row by row so
    the error names the file and line (:func:`read_detections`).
    """
    import numpy as np
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    names = ["video", "second", "x1", "y1", "x2", "y2", "action", "score"]
    try:
        table = pd.read_csv(path, header=None, names=names, dtype={"video": str, "second": np.int64, "action": np.int64},
                            keep_default_na=False, skip_blank_lines=True, on_bad_lines="error", engine="c")
        coords = table[["x1", "y1", "x2", "y2"]].to_numpy(dtype=np.float64)
        scores = table["score"].to_numpy(dtype=np.float64)
        clean = np.isfinite(coords).all() and np.isfinite(scores).all() and ((coords >= -0.05) & (coords <= 1.05)).all()
    except pd.errors.EmptyDataError:
        empty = np.zeros(0)
        return {"video": np.array([], dtype=object), "second": empty.astype(np.int64), "boxes": empty.reshape(0, 4),
                "classes": empty.astype(np.int64), "scores": empty}
    except (ValueError, pd.errors.ParserError):
        clean = False
    if not clean:
        rows = read_detections(path)  # raises, naming the line; or the file was fine after all
        return {"video": np.array([r[0][0] for r in rows], dtype=object), "second": np.array([r[0][1] for r in rows], dtype=np.int64),
                "boxes": np.array([r[1:5] for r in rows], dtype=np.float64).reshape(-1, 4),
                "classes": np.array([r[5] for r in rows], dtype=np.int64), "scores": np.array([r[6] for r in rows], dtype=np.float64)}
    return {"video": table["video"].to_numpy(dtype=object), "second": table["second"].to_numpy(dtype=np.int64),
            "boxes": coords, "classes": table["action"].to_numpy(dtype=np.int64), "scores": scores}


def read_person_boxes(path, threshold: float, seconds: range | None = None) -> dict[FrameKey, list[PersonBox]]:
    """Predicted person boxes with ``score >= threshold``, per frame, in file order.

    A box repeated on a frame (the files list a box once per action label) is kept once, the
    first time its coordinate text appears, as the reference does. ``seconds``: keep only
    frames in this range (the reference's keyframes, seconds 902..1798).
    """
    frames: dict[FrameKey, dict[str, PersonBox]] = {}
    for number, fields in _rows(path):
        if len(fields) != 8:
            raise AnnotationError(path, number, f"expected 8 columns (video,timestamp,x1,y1,x2,y2,action,score), got {len(fields)}")
        score = _score(fields[7], path, number)
        _action(fields[6], path, number, allow_empty=True)  # validated, not used: the model labels the box
        key = (fields[0], _second(fields[1], path, number))
        coords = _coords(fields[2:6], path, number)
        if score < threshold or (seconds is not None and key[1] not in seconds):
            continue
        boxes = frames.setdefault(key, {})
        boxes.setdefault(",".join(fields[2:6]), PersonBox(*coords, score))
    return {key: list(boxes.values()) for key, boxes in frames.items()}


def read_excluded(path) -> set[FrameKey]:
    """Excluded frames ``{(video, second)}`` (``video,timestamp`` rows)."""
    if path is None:
        return set()
    keys = set()
    for number, fields in _rows(path):
        if len(fields) != 2:
            raise AnnotationError(path, number, f"expected 2 columns (video,timestamp), got {len(fields)}")
        keys.add((fields[0], _second(fields[1], path, number)))
    return keys


_ITEM = re.compile(r"\b(?:item|label)\s*\{(?P<body>[^}]*)\}", re.S)  # the 60-class file's items, the 80-class file's labels
_NAME = re.compile(r"""\bname\s*:\s*(?:"(?P<double>[^"]*)"|'(?P<single>[^']*)')""")
_ID = re.compile(r"\b(?:label_)?id\s*:\s*(?P<id>-?\d+)")


def read_label_map(path) -> dict[int, str]:
    """Class id -> name from a ``.pbtxt`` label map (the evaluated classes, in file order)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    text = path.read_text()
    classes: dict[int, str] = {}
    for match in _ITEM.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        body = match.group("body")
        name, ident = _NAME.search(body), _ID.search(body)
        if ident is None:
            raise AnnotationError(path, line, "label map item without an id")
        class_id = int(ident.group("id"))
        if class_id in classes:
            raise AnnotationError(path, line, f"class id {class_id} appears twice")
        classes[class_id] = (name.group("double") if name.group("double") is not None else name.group("single")) if name else str(class_id)
    if not classes:
        raise AnnotationError(path, None, "no 'item { name: ... id: ... }' (or 'label { name: ... label_id: ... }') "
                                          "entries found")
    return classes
