"""Annotation readers: which videos to evaluate, where they are, and their labels.

Every reader returns a :class:`VideoDataset`: a list of :class:`VideoRecord` (a unique
``key``, the video ``path``, the label(s) as the checkpoint's class indices) plus the class
names in index order and the metric to score it with. A malformed row raises
:class:`AnnotationError` naming the file and line; a video missing on disk is *not* an error
here (the evaluator records it as a failure and goes on).

Formats:

- **Kinetics-400, official CSV** (``youtube_id,time_start,time_end,label,split``): the video
  is ``<youtube_id>_<start:06d>_<end:06d>.<ext>`` anywhere under the video root (flat or in
  per-class folders), or ``<youtube_id>.<ext>``. Class index: without a classes file, the
  position of the name in the list the zoo ships for the dataset (``zoo/classes/<dataset>.txt``:
  Kinetics-400's 400 names in the checkpoints' order, sorted alphabetically as PySlowFast and
  PyTorchVideo index them; the demo's 5), so a subset of the validation set is indexed as the
  full set is; for a dataset with no shipped list, the rank among the sorted distinct names of
  the file. Another list: ``classes=`` (a text file with one name per line in index order, or a
  JSON ``{name: index}`` such as PyTorchVideo's ``kinetics_classnames.json``). Names are
  compared ignoring case, quotes and ``_``/space.
- **Plain list** (PySlowFast's ``path label`` lines, label an integer index): the path is
  relative to the video root unless absolute. An optional ``classes.txt`` next to the list
  (one name per line) supplies names.
- **Something-Something V2**: the validation JSON (``[{"id", "template", ...}]``) and the
  labels JSON (``{"Template text": "index"}``); the template's brackets are dropped before
  lookup, as the reference does. Videos are ``<id>.webm`` (any extension) under the root.
- **Charades**: the official CSV (``id,...,actions,...``; ``actions`` is
  ``"c092 11.90 21.20;c147 0.00 12.60"`` or empty) and optionally the classes file
  (``c000 Holding some clothes`` lines). Class ``cNNN`` is index ``NNN``. Videos are
  ``<id>.mp4`` (any extension). Multi-label; scored by mAP.

Example:
    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> _ = open(os.path.join(root, "val.csv"), "w").write(
    ...     "youtube_id,time_start,time_end,label,split\\n"
    ...     "abc,10,20,riding a bike,val\\n" "xyz,0,10,abseiling,val\\n")
    >>> ds = read_kinetics_csv(os.path.join(root, "val.csv"), root)
    >>> len(ds.classes), [(r.key, r.label) for r in ds.records]  # Kinetics-400's indices, of its 400 classes
    (400, [('abc_000010_000020', 267), ('xyz_000000_000010', 0)])
    >>> read_kinetics_csv(os.path.join(root, "val.csv"), root, name="mine").classes  # no list ships: sorted
    ['abseiling', 'riding a bike']
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from zoo.classes import ClassFileError, read_class_file
from zoo.input.source import VIDEO_EXTENSIONS


class AnnotationError(ValueError):
    """A malformed annotation: the message names the file and line."""

    def __init__(self, path, line: int | None, message: str):
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path, self.line = str(path), line


def open_annotation(path, newline: str | None = None) -> io.StringIO:
    """An annotation file's text, opened for reading; a file that is not UTF-8 text (a list saved
    in a legacy code page, or a video given where its list was expected) is an
    :class:`AnnotationError` naming the line of its first undecodable byte.

    ``newline``: as :func:`open`'s (``""`` for the :mod:`csv` module). A byte order mark is dropped.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "list.txt")
        >>> _ = open(path, "wb").write("a.mp4 0\\ncaf\\xe9.mp4 1\\n".encode("latin-1"))
        >>> open_annotation(path)
        Traceback (most recent call last):
        ...
        benchmarks.datasets.AnnotationError: ...list.txt:2: not UTF-8 text (byte 0xe9 at column 4): save the file as UTF-8
    """
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line_start = raw.rfind(b"\n", 0, err.start) + 1
        raise AnnotationError(path, raw.count(b"\n", 0, err.start) + 1,
                              f"not UTF-8 text (byte 0x{raw[err.start]:02x} at column {err.start - line_start + 1}): "
                              "save the file as UTF-8") from None
    return io.StringIO(text, newline=newline)


class ClassNotShippedError(AnnotationError):
    """A label outside the class list :mod:`zoo.classes` ships for the dataset (a file of other classes)."""


@dataclass(frozen=True)
class VideoRecord:
    """One video to evaluate. ``label``: a class index, or a tuple of them (multi-label).

    ``path`` is a video file or a folder of frames; ``frames``, when given (a PySlowFast frame
    list), the video's frame files in order, read instead of ``path``.
    """

    key: str
    path: str
    label: int | tuple[int, ...]
    frames: tuple[str, ...] = ()

    @property
    def source(self):
        """What :func:`zoo.input.video.read_views` reads: the frame files, else the path."""
        return list(self.frames) if self.frames else self.path


@dataclass
class VideoDataset:
    """Records plus what scoring them needs. ``metric``: a name in :data:`benchmarks.metrics.METRICS`."""

    name: str
    records: list[VideoRecord]
    classes: list[str] | None = None
    multilabel: bool = False
    metric: str = "topk"
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def num_classes(self) -> int | None:
        return len(self.classes) if self.classes is not None else None


def normalize_name(name: str) -> str:
    """Class-name form used for matching: lower case, no quotes, ``_`` as space."""
    return " ".join(name.strip().strip('"').strip("'").replace("_", " ").lower().split())


def read_class_list(path) -> list[str]:
    """Class names in index order: a text file (one per line) or JSON ``{name: index}``
    (:func:`zoo.classes.read_class_file`; a bad file is an :class:`AnnotationError`)."""
    try:
        return read_class_file(path)
    except ClassFileError as err:
        raise AnnotationError(err.path, err.line, err.message) from None


def _index_of(lookup: dict[str, int], name: str, path, line: int) -> int:
    key = normalize_name(name)
    if key not in lookup:
        close = difflib.get_close_matches(key, list(lookup), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise AnnotationError(path, line, f"unknown class {name!r}{hint}")
    return lookup[key]


class VideoIndex:
    """Video files under a root, found by file name stem (one directory walk)."""

    def __init__(self, root):
        self.root = Path(root)
        self._by_stem: dict[str, str] | None = None

    def find(self, *stems: str, default_ext: str = ".mp4") -> str:
        """The video file named ``stem.<ext>``, else a frame folder named ``stem``."""
        if self._by_stem is None:
            self._by_stem, self._folders = {}, {}
            for folder, dirs, files in os.walk(self.root):
                for f in files:
                    stem, ext = os.path.splitext(f)
                    if ext.lower() in VIDEO_EXTENSIONS:
                        self._by_stem.setdefault(stem, os.path.join(folder, f))
                for d in dirs:
                    self._folders.setdefault(d, os.path.join(folder, d))
        for stem in stems:
            if stem in self._by_stem:
                return self._by_stem[stem]
        for stem in stems:
            if stem in self._folders:
                return self._folders[stem]
        return str(self.root / f"{stems[0]}{default_ext}")  # missing: the evaluator reports it


CSV_DELIMITERS = (",", ";", "\t")


def csv_delimiter(header: str, required: tuple[str, ...]) -> str:
    """The delimiter whose fields in ``header`` include every ``required`` column: a comma, or the
    semicolon or tab a spreadsheet saves with in many locales; a comma when none does.

    Example:
        >>> csv_delimiter("label;youtube_id;time_start;time_end", ("youtube_id", "label"))
        ';'
    """
    for delimiter in CSV_DELIMITERS:
        fields = [f.strip().strip('"') for f in header.rstrip("\r\n").split(delimiter)]
        if all(c in fields for c in required):
            return delimiter
    return ","


def _csv_rows(path, required: tuple[str, ...]):
    """(line number, row dict) of a CSV file with a header holding ``required`` columns."""
    # utf-8-sig: a spreadsheet's "CSV UTF-8" starts with a byte order mark, which is no column name
    with open_annotation(path, newline="") as f:
        delimiter = csv_delimiter(f.readline(), required)
        f.seek(0)
        reader = csv.DictReader(f, delimiter=delimiter)
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            raise AnnotationError(path, 1, f"header lacks column(s) {missing}; found {header}")
        for row in reader:
            # first, before any value is read: a missing field shifts the next ones into the wrong
            # columns (a label read as time_end), so they would be reported as what they are not
            values = [v for k, v in row.items() if k is not None and v is not None] + row.get(None, [])
            if len(values) != len(header):
                raise AnnotationError(path, reader.line_num, f"expected {len(header)} fields ({','.join(header)}), "
                                      f"got {len(values)}: {','.join(values)}")
            yield reader.line_num, row


def read_kinetics_csv(path, video_root, classes=None, name: str = "kinetics400") -> VideoDataset:
    """The official Kinetics CSV (see the module docstring for paths and class indices)."""
    rows = []
    for line, row in _csv_rows(path, ("youtube_id", "time_start", "time_end", "label")):
        try:
            start, end = int(float(row["time_start"])), int(float(row["time_end"]))
        except (ValueError, OverflowError):  # OverflowError: "inf", "1e400"
            raise AnnotationError(path, line, f"time_start/time_end must be numbers: {row}") from None
        if not row["youtube_id"].strip() or not row["label"].strip():
            raise AnnotationError(path, line, f"empty youtube_id or label: {row}")
        rows.append((line, row["youtube_id"].strip(), start, end, row["label"]))
    shipped = classes is None and _shipped_class_names(name)
    if shipped:
        # the checkpoints' order, whatever classes this file holds: a subset is indexed as the full set
        names = shipped
    elif classes is None:
        names = sorted({normalize_name(r[4]) for r in rows})
    else:
        names = read_class_list(classes) if isinstance(classes, (str, os.PathLike)) else list(classes)
    lookup = {normalize_name(c): i for i, c in enumerate(names)}
    index = VideoIndex(video_root)
    records, places = [], []
    for line, yid, start, end, label in rows:
        key = f"{yid}_{start:06d}_{end:06d}"
        try:
            label_index = _index_of(lookup, label, path, line)
        except AnnotationError as err:
            if shipped:  # a file of other classes than the dataset's: say how to give them
                raise ClassNotShippedError(path, line, f"{str(err)[len(f'{path}:{line}: '):]} (not one of the {len(names)} {name} classes "
                                      "zoo/classes ships; a file of other classes needs their list: --classes)") from None
            raise
        records.append(VideoRecord(key, index.find(key, yid), label_index))
        places.append((path, line))
    return VideoDataset(name, _unique(records, path, places), names, source=str(path))


def load_any_classes(dataset: str, annotations, video_root, *, classes=None) -> tuple[VideoDataset, ClassNotShippedError | None]:
    """:func:`load_dataset`, or for a Kinetics-format CSV of classes outside the dataset's shipped
    list (the user's own), the file read with its labels numbered by its own sorted names, and
    why (the error naming the first such row). For the jobs whose labels need no model's class
    order: embeddings, calibration clips."""
    try:
        return load_dataset(dataset, annotations, video_root, classes=classes), None
    except ClassNotShippedError as err:
        return read_kinetics_csv(annotations, video_root, name="videos"), err


def _shipped_class_names(dataset: str) -> list[str] | None:
    """The class names :mod:`zoo.classes` ships for ``dataset`` in output order, or None."""
    from zoo.classes import ClassListUnavailable, class_names

    try:
        return class_names(dataset)
    except ClassListUnavailable:
        return None


def read_path_label_list(path, video_root, classes=None, name: str = "videos") -> VideoDataset:
    """PySlowFast's ``path label`` list (label: integer class index)."""
    root = Path(video_root)
    records, lines = [], []
    with open_annotation(path) as f:
        for line, text in enumerate(f, 1):
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            parts = text.rstrip("\n").rsplit(None, 1)
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit() or int(parts[1]) < 0:
                raise AnnotationError(path, line, f"expected '<path> <class index>', got {text.strip()!r}")
            video = parts[0].strip()
            full = video if os.path.isabs(video) else str(root / video)
            records.append(VideoRecord(video, full, int(parts[1])))
            lines.append(line)
    if classes is None and (Path(path).parent / "classes.txt").exists():
        classes = Path(path).parent / "classes.txt"
    names = read_class_list(classes) if isinstance(classes, (str, os.PathLike)) else classes
    if names is not None:
        for r, line in zip(records, lines):
            if r.label >= len(names):
                raise AnnotationError(path, line, f"{r.key}: class index {r.label} >= {len(names)} classes")
    return VideoDataset(name, _unique(records, path, [(path, line) for line in lines]), names, source=str(path))


def read_ssv2(path, labels, video_root, name: str = "ssv2", frame_list=None) -> VideoDataset:
    """Something-Something V2: validation JSON + labels JSON (``{template: "index"}``).

    With ``frame_list`` (PySlowFast's frame-list ``val.csv``, frames under ``video_root``) each
    video is read from its listed JPEG frames, and videos absent from the list are left out,
    as PyTorchVideo's SSv2 does (counted in ``meta["not_in_frame_list"]``).
    """
    try:
        items = json.loads(open_annotation(path).read())
    except json.JSONDecodeError as err:
        raise AnnotationError(path, err.lineno, f"not valid JSON: {err.msg} (column {err.colno})") from None
    text = open_annotation(labels).read()  # not UTF-8: its own error, naming the line
    try:
        label_map = {normalize_name(k): int(v) for k, v in json.loads(text).items()}
    except json.JSONDecodeError as err:
        raise AnnotationError(labels, err.lineno, f"not valid JSON: {err.msg} (column {err.colno})") from None
    except (ValueError, TypeError, AttributeError):
        raise AnnotationError(labels, None, 'expected {"Template text": "index"} (the official labels JSON)') from None
    # the class indices are the checkpoint's outputs: every one of 0..N-1, each once
    by_index: dict[int, list[str]] = {}
    for k, v in label_map.items():
        by_index.setdefault(v, []).append(k)
    twice = {i: names for i, names in by_index.items() if len(names) > 1}
    missing = sorted(set(range(len(label_map))) - set(by_index))
    if twice or missing:
        what = (f"index {min(twice)} is given to {len(twice[min(twice)])} templates ({twice[min(twice)][0]!r}, ...)" if twice
                else f"indices {missing[:5]} are missing")
        raise AnnotationError(labels, None, f"{what}: the labels JSON gives each index 0..N-1 to one template "
                                            "(the official file: 174 templates, indices 0..173)")
    classes = [by_index[i][0] for i in range(len(label_map))]
    index = VideoIndex(video_root)
    frames_of = read_frame_list(frame_list, video_root) if frame_list else None
    skipped = 0
    records = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "id" not in item or "template" not in item:
            raise AnnotationError(path, None, f"entry {i} lacks 'id' or 'template': {item!r}")
        template = normalize_name(item["template"].replace("[", "").replace("]", ""))
        if template not in label_map:
            close = difflib.get_close_matches(template, list(label_map), n=3)
            raise AnnotationError(path, None, f"entry {i} (id {item['id']}): unknown template {item['template']!r}"
                                  + (f"; did you mean {', '.join(close)}?" if close else ""))
        key = str(item["id"])
        if frames_of is not None:
            if key not in frames_of:
                skipped += 1
                continue
            frames = frames_of[key][0]
            records.append(VideoRecord(key, os.path.dirname(frames[0]), label_map[template], tuple(frames)))
        else:
            records.append(VideoRecord(key, index.find(key, default_ext=".webm"), label_map[template]))
    ds = VideoDataset(name, _unique(records, path), classes, source=str(path))
    if frames_of is not None:
        ds.meta["not_in_frame_list"] = skipped
    return ds


def _charades_classes(classes) -> list[str]:
    """The Charades classes file (``c000 Holding some clothes`` lines) as names in index order."""
    names: list[str] = []
    for line, text in enumerate(open_annotation(classes).read().splitlines(), 1):
        if not text.strip():
            continue
        code, _, label = text.strip().partition(" ")
        if not (code.startswith("c") and code[1:].isdigit()) or int(code[1:]) != len(names):
            raise AnnotationError(classes, line, f"expected 'c{len(names):03d} <name>', got {text.strip()!r}")
        names.append(label.strip())
    return names


def read_charades(path, video_root, classes=None, name: str = "charades", num_classes: int = 157) -> VideoDataset:
    """Charades: official CSV (``id`` and ``actions`` columns) and optional classes file."""
    names = _charades_classes(classes) if classes is not None else None
    if names is not None:
        num_classes = len(names)
    index = VideoIndex(video_root)
    records, places = [], []
    for line, row in _csv_rows(path, ("id", "actions")):
        labels = set()
        for action in filter(None, (a.strip() for a in row["actions"].split(";"))):
            parts = action.split()
            code = parts[0]
            if len(parts) != 3 or not (code.startswith("c") and code[1:].isdigit()):
                raise AnnotationError(path, line, f"action {action!r} is not 'cNNN start end'")
            if int(code[1:]) >= num_classes:
                raise AnnotationError(path, line, f"action class {code} >= {num_classes} classes")
            labels.add(int(code[1:]))
        key = row["id"].strip()
        records.append(VideoRecord(key, index.find(key), tuple(sorted(labels))))
        places.append((path, line))
    ds = VideoDataset(name, _unique(records, path, places), names, multilabel=True, metric="map", source=str(path))
    ds.meta["num_classes"] = num_classes
    return ds


FRAME_LIST_COLUMNS = ("original_vido_id", "video_id", "frame_id", "path", "labels")


def is_frame_list(path) -> bool:
    """True for PySlowFast's frame-list CSV (header ``original_vido_id video_id frame_id path labels``)."""
    with open_annotation(path) as f:
        return f.readline().split() == list(FRAME_LIST_COLUMNS)


def read_frame_list(path, prefix) -> dict[str, tuple[list[str], set[int]]]:
    """PySlowFast's frame list (SSv2, Charades; ``DATASET.md``): video -> (frame files, labels).

    Space-separated, one row per frame in order; ``path`` is relative to ``prefix``
    (``DATA.PATH_PREFIX``); ``labels`` the frame's comma-separated class indices (quoted, may be
    empty). A video's labels are the union of its frames' (PyTorchVideo's ``video_label``).
    """
    videos: dict[str, tuple[list[str], set[int]]] = {}
    with open_annotation(path, newline="") as f:
        reader = csv.reader(f, delimiter=" ")
        header = next(reader, [])
        if header != list(FRAME_LIST_COLUMNS):
            raise AnnotationError(path, 1, f"expected the frame-list header {' '.join(FRAME_LIST_COLUMNS)!r}, got {' '.join(header)!r}")
        for line, row in enumerate(reader, 2):
            if not row:
                continue
            if len(row) != 5:
                raise AnnotationError(path, line, f"expected 5 space-separated fields, got {len(row)}: {' '.join(row)!r}")
            name, _, _, frame, labels = row
            text = labels.replace('"', "").strip()
            try:
                classes = {int(x) for x in text.split(",")} if text else set()
            except ValueError:
                raise AnnotationError(path, line, f"labels must be comma-separated class indices, got {labels!r}") from None
            frames, video_labels = videos.setdefault(name, ([], set()))
            frames.append(os.path.join(str(prefix), frame))
            video_labels.update(classes)
    return videos


def read_charades_frame_list(path, prefix, classes=None, name: str = "charades", num_classes: int = 157) -> VideoDataset:
    """Charades as PySlowFast tests it: the frame-list ``val.csv``, labels = union of frame labels."""
    names = _charades_classes(classes) if classes is not None else None
    num_classes = len(names) if names else num_classes
    records = []
    for key, (frames, labels) in read_frame_list(path, prefix).items():
        if any(c >= num_classes for c in labels):
            raise AnnotationError(path, None, f"video {key}: class index {max(labels)} >= {num_classes} classes")
        records.append(VideoRecord(key, os.path.dirname(frames[0]), tuple(sorted(labels)), tuple(frames)))
    ds = VideoDataset(name, _unique(records, path), names, multilabel=True, metric="map", source=str(path))
    ds.meta["num_classes"] = num_classes
    return ds


def _unique(records: list[VideoRecord], path, places: list[tuple] | None = None) -> list[VideoRecord]:
    """``records``, refused if a video is listed twice; ``places``: each record's (file, line),
    so the error names both rows."""
    seen: dict[str, int] = {}
    for i, r in enumerate(records):
        if r.key in seen:
            if places is None:
                raise AnnotationError(path, None, f"video {r.key!r} is listed twice")
            (first_file, first_line), (file, line) = places[seen[r.key]], places[i]
            earlier = f"line {first_line}" if first_file == file else f"{first_file}:{first_line}"
            raise AnnotationError(file, line, f"video {r.key!r} is listed twice (first at {earlier})")
        seen[r.key] = i
    return records


# --------------------------------------------------------------------------- transfer learning sets


#: The transfer-learning formats :func:`read_transfer_split` reads.
TRANSFER_DATASETS = ("ucf101", "hmdb51", "folders")


def read_ucf101_classes(path) -> list[str]:
    """UCF101's ``classInd.txt`` (``1 ApplyEyeMakeup`` lines, 1-based, in order) as names in index order."""
    names: list[str] = []
    with open_annotation(path) as f:
        for line, text in enumerate(f, 1):
            if not text.strip():
                continue
            parts = text.split()
            if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) != len(names) + 1:
                raise AnnotationError(path, line, f"expected '{len(names) + 1} <class name>', got {text.strip()!r}")
            names.append(parts[1])
    if not names:
        raise AnnotationError(path, None, "no classes")
    return names


def read_ucf101(path, video_root, classes=None, name: str = "ucf101") -> VideoDataset:
    """A UCF101 split list: ``trainlist0N.txt`` (``Class/v_Class_g08_c01.avi 1``, 1-based label)
    or ``testlist0N.txt`` (``Class/v_Class_g01_c01.avi``, the class is the folder).

    ``classes``: ``classInd.txt`` (default: beside the list). Labels are 0-based class indices
    (``classInd`` order); a row whose label disagrees with its folder, an unknown folder or a
    label out of range raises :class:`AnnotationError` naming file and line.

    Example:
        >>> import os, tempfile
        >>> root = tempfile.mkdtemp()
        >>> _ = open(os.path.join(root, "classInd.txt"), "w").write("1 ApplyEyeMakeup\\n2 Archery\\n")
        >>> _ = open(os.path.join(root, "testlist01.txt"), "w").write("Archery/v_Archery_g01_c01.avi\\n")
        >>> ds = read_ucf101(os.path.join(root, "testlist01.txt"), "UCF-101")
        >>> [(r.key, r.path, r.label) for r in ds.records]
        [('v_Archery_g01_c01', 'UCF-101/Archery/v_Archery_g01_c01.avi', 1)]
    """
    path = Path(path)
    names = read_ucf101_classes(classes if classes is not None else path.parent / "classInd.txt")
    lookup = {normalize_name(c): i for i, c in enumerate(names)}
    records, places = [], []
    with open_annotation(path) as f:
        for line, text in enumerate(f, 1):
            if not text.strip():
                continue
            parts = text.split()
            rel = parts[0]
            folder = rel.replace("\\", "/").split("/")[0] if "/" in rel.replace("\\", "/") else None
            if len(parts) > 2 or folder is None or (len(parts) == 2 and not parts[1].isdigit()):
                raise AnnotationError(path, line, f"expected '<Class>/<video> [<class number>]', got {text.strip()!r}")
            label = _index_of(lookup, folder, path, line)
            if len(parts) == 2 and int(parts[1]) - 1 != label:
                raise AnnotationError(path, line, f"class number {parts[1]} is not {folder!r} ({label + 1} in the class list)")
            key = os.path.splitext(os.path.basename(rel))[0]
            records.append(VideoRecord(key, os.path.join(str(video_root), rel), label))
            places.append((path, line))
    return VideoDataset(name, _unique(records, path, places), names, source=str(path))


#: HMDB51 split files: what the number after each video means.
HMDB51_SUBSETS = {"train": "1", "test": "2", "unused": "0"}


def read_hmdb51(split_dir, video_root, split: int = 1, subset: str = "train", name: str = "hmdb51") -> VideoDataset:
    """HMDB51's ``testTrainMulti_7030_splits``: one ``<class>_test_split<N>.txt`` per class,
    ``<video>.avi <id>`` rows with id 1 (train), 2 (test) or 0 (unused).

    Classes are the split files' class names sorted alphabetically (the usual index order);
    videos are ``video_root/<class>/<video>``. ``subset``: ``train``, ``test`` or ``unused``.

    Example:
        >>> import os, tempfile
        >>> splits = tempfile.mkdtemp()
        >>> _ = open(os.path.join(splits, "wave_test_split1.txt"), "w").write("a.avi 1\\nb.avi 2\\nc.avi 0\\n")
        >>> _ = open(os.path.join(splits, "clap_test_split1.txt"), "w").write("d.avi 2\\n")
        >>> ds = read_hmdb51(splits, "hmdb51", subset="test")
        >>> ds.classes, [(r.path, r.label) for r in ds.records]
        (['clap', 'wave'], [('hmdb51/clap/d.avi', 0), ('hmdb51/wave/b.avi', 1)])
    """
    if subset not in HMDB51_SUBSETS:
        raise ValueError(f"subset must be one of {sorted(HMDB51_SUBSETS)}, got {subset!r}")
    suffix = f"_test_split{int(split)}.txt"
    files = sorted(p for p in Path(split_dir).iterdir() if p.name.endswith(suffix))
    if not files:
        raise AnnotationError(split_dir, None, f"no '<class>{suffix}' files")
    names = [p.name[: -len(suffix)] for p in files]
    wanted = HMDB51_SUBSETS[subset]
    records, places = [], []
    for label, (cls, file) in enumerate(zip(names, files)):
        with open_annotation(file) as f:
            for line, text in enumerate(f, 1):
                if not text.strip():
                    continue
                parts = text.split()
                if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                    raise AnnotationError(file, line, f"expected '<video> 0|1|2', got {text.strip()!r}")
                if parts[1] == wanted:
                    key = os.path.splitext(parts[0])[0]
                    records.append(VideoRecord(key, os.path.join(str(video_root), cls, parts[0]), label))
                    places.append((file, line))
    return VideoDataset(name, _unique(records, split_dir, places), names, source=str(split_dir), meta={"split": int(split)})


def held_out(key: str, seed: int = 0) -> float:
    """A video's place in ``[0, 1)`` for the folder layout's held-out split: a hash of its
    ``<class>/<file>`` name and the seed, so the split is the same on every machine and a
    video keeps its side when others are added."""
    import hashlib

    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def read_video_folders(root, subset: str = "all", val_fraction: float = 0.2, seed: int = 0,
                       name: str = "folders") -> VideoDataset:
    """A folder per class: ``root/<class>/<video>`` (video files, or frame folders).

    Classes are the sub-folders sorted by name. ``subset``: ``all``, or ``train``/``val``: in each
    class, the ``max(1, round(n * val_fraction))`` videos lowest by :func:`held_out` are ``val``
    (none when the class has one video), the rest ``train``. A class folder without videos raises
    :class:`AnnotationError`.

    Example:
        >>> import os, tempfile
        >>> root = tempfile.mkdtemp()
        >>> for cls in ("jump", "run"):
        ...     os.makedirs(os.path.join(root, cls))
        ...     for i in range(5):
        ...         _ = open(os.path.join(root, cls, f"{i}.mp4"), "wb")
        >>> train, val = (read_video_folders(root, s) for s in ("train", "val"))
        >>> len(train), len(val), val.classes
        (8, 2, ['jump', 'run'])
    """
    if subset not in ("all", "train", "val"):
        raise ValueError(f"subset must be all, train or val; got {subset!r}")
    root = Path(root)
    if root.is_file():  # the folder layout's root, given a file (a list, a video)
        raise AnnotationError(root, None, "a file: the folder layout takes the folder of class folders (root/<class>/<video>)")
    if not root.is_dir():
        raise FileNotFoundError(f"video folder {root} does not exist")
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise AnnotationError(root, None, "no class folders (expected root/<class>/<video>)")
    records = []
    for label, cls in enumerate(names):
        videos = sorted(
            p.name for p in (root / cls).iterdir()
            if not p.name.startswith(".") and (p.is_dir() or p.suffix.lower() in VIDEO_EXTENSIONS)
        )
        if not videos:
            raise AnnotationError(root / cls, None, f"class folder {cls!r} holds no videos ({', '.join(VIDEO_EXTENSIONS)} or frame folders)")
        order = sorted(videos, key=lambda v: held_out(f"{cls}/{v}", seed))
        n_val = max(1, round(len(videos) * val_fraction)) if len(videos) > 1 and val_fraction > 0 else 0
        val = set(order[:n_val])
        for video in videos:
            if subset == "all" or (video in val) == (subset == "val"):
                records.append(VideoRecord(f"{cls}/{video}", str(root / cls / video), label))
    ds = VideoDataset(name, _unique(records, root), names, source=str(root))
    ds.meta.update(subset=subset, val_fraction=val_fraction, seed=seed)
    return ds


def read_transfer_split(dataset: str, annotations, video_root=None, *, subset: str, split: int = 1,
                        val_fraction: float = 0.2, seed: int = 0) -> VideoDataset:
    """One side (``subset``: ``train`` or ``val``) of a transfer-learning set (:data:`TRANSFER_DATASETS`).

    - ``ucf101``: ``annotations`` is the split list itself (``trainlist0N.txt`` or
      ``testlist0N.txt``, ``classInd.txt`` beside it), videos under ``video_root``;
    - ``hmdb51``: ``annotations`` the ``testTrainMulti_7030_splits`` folder, ``split`` 1-3;
      ``val`` reads the test rows (id 2), ``all`` the train and test rows;
    - ``folders``: ``annotations`` the class-folder root; ``val`` is its held-out share
      (``val_fraction``, ``seed``), unless ``subset="all"``.
    """
    if dataset not in TRANSFER_DATASETS:
        raise ValueError(f"dataset must be one of {TRANSFER_DATASETS}, got {dataset!r}")
    if dataset == "folders":
        if video_root is not None:  # the videos are the class folders' own: a root given here would go unused
            raise ValueError(f"folders: the videos are in {annotations}'s class folders; --video-root is for "
                             "ucf101 and hmdb51")
        return read_video_folders(annotations, subset, val_fraction, seed)
    if video_root is None:  # the split lists name videos relative to it
        raise ValueError(f"{dataset}: --video-root is required (the folder of class folders of videos that "
                         f"{annotations} names)")
    if dataset == "ucf101":
        if Path(annotations).is_dir():
            raise ValueError(f"ucf101: {annotations} is a folder; give the split list file (trainlist0N.txt or "
                             "testlist0N.txt of ucfTrainTestlist, classInd.txt beside it)")
        return read_ucf101(annotations, video_root)
    if subset == "all":  # every labelled video of the split: its train and test rows (not the unused ones)
        train, test = (read_hmdb51(annotations, video_root, split, side) for side in ("train", "test"))
        return dataclasses.replace(train, records=train.records + test.records)
    return read_hmdb51(annotations, video_root, split, "test" if subset == "val" else subset)


def _some(names: list[str], most: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def align_classes(dataset: VideoDataset, classes) -> VideoDataset:
    """``dataset`` with its labels as indices into ``classes``: the checkpoint's class list in
    index order (a file, e.g. the ``classes.txt`` of the ``zoo finetune`` run that made it, or a
    list of names).

    It must name every class of the dataset (compared as :func:`normalize_name` does), in any
    order: in another order, the labels are renumbered to the list's, which is what the
    checkpoint's outputs mean. It may name more: a test set without videos of some class is
    still measured, in the list's classes. A list lacking a class of the data raises
    :class:`AnnotationError` saying which classes are in the data but not in the list, and
    which the other way round.

    Example:
        >>> ds = VideoDataset("folders", [VideoRecord("run/0.mp4", "run/0.mp4", 1)], ["jump", "run"])
        >>> [r.label for r in align_classes(ds, ["run", "jump"]).records]
        [0]
        >>> aligned = align_classes(ds, ["walk", "run", "jump"])
        >>> [r.label for r in aligned.records], aligned.num_classes
        ([1], 3)
        >>> align_classes(ds, ["jump", "walk"])
        Traceback (most recent call last):
        ...
        benchmarks.datasets.AnnotationError: the class list: it names other classes than the data's (2 here, 2 in the data): in the data, not in the list: 'run'; in the list, not in the data: 'walk'
    """
    where = str(classes) if isinstance(classes, (str, os.PathLike)) else "the class list"
    names = read_class_list(classes) if isinstance(classes, (str, os.PathLike)) else list(classes)
    index = {normalize_name(c): i for i, c in enumerate(names)}
    if len(index) != len(names):
        seen: set[str] = set()
        twice = [c for c in names if normalize_name(c) in seen or seen.add(normalize_name(c))]
        raise AnnotationError(where, None, f"names a class twice: {_some(twice)}")
    ours = {normalize_name(c) for c in dataset.classes or []}
    missing = [c for c in dataset.classes or [] if normalize_name(c) not in index]
    if missing:  # classes only in the list are fine: the data's labels still have their index there
        extra = [c for c in names if normalize_name(c) not in ours]
        parts = [f"in the data, not in the list: {_some(missing)}"] + (
            [f"in the list, not in the data: {_some(extra)}"] if extra else [])
        raise AnnotationError(where, None, f"it names other classes than the data's ({len(names)} here, "
                              f"{len(dataset.classes or [])} in the data): " + "; ".join(parts))
    order = [index[normalize_name(c)] for c in dataset.classes]
    records = dataset.records
    if order != list(range(len(order))):
        records = [dataclasses.replace(r, label=tuple(order[i] for i in r.label) if isinstance(r.label, tuple)
                                       else order[r.label]) for r in records]
    return VideoDataset(dataset.name, records, names, dataset.multilabel, dataset.metric, dataset.source,
                        {**dataset.meta, "classes": where})


def load_dataset(dataset: str, annotations, video_root, *, classes=None, labels=None, frame_list=None,
                 split: int = 1) -> VideoDataset:
    """Read ``annotations`` for ``dataset`` (``kinetics400``, ``ssv2``, ``charades``, or a
    transfer set: ``ucf101``, ``hmdb51``, ``folders``), format by content.

    ``classes``: class list (Kinetics, plain lists, Charades classes file); ``labels``: the
    SSv2 labels JSON (default: ``labels.json`` next to the annotations); ``frame_list``:
    PySlowFast's SSv2 frame-list CSV (frames under ``video_root``). A Charades frame list may
    be given as ``annotations`` itself (its header tells).

    The transfer sets are read for evaluation as ``zoo finetune`` reads them: ``ucf101``, a
    split list (``testlist0N.txt``, ``classInd.txt`` beside it); ``hmdb51``, the
    ``testTrainMulti_7030_splits`` folder, split ``split``'s test videos (id 2); ``folders``,
    every video under ``annotations/<class>/`` (``video_root`` unused). Their labels follow the
    readers' class order, the one ``zoo finetune`` trains with; ``classes`` (the run's
    ``classes.txt``) must name the same classes (:func:`align_classes`).

    Example:
        >>> import os, tempfile
        >>> root = tempfile.mkdtemp()
        >>> for video in ("jump/a.mp4", "run/b.mp4"):
        ...     os.makedirs(os.path.join(root, os.path.dirname(video)), exist_ok=True)
        ...     _ = open(os.path.join(root, video), "wb")
        >>> ds = load_dataset("folders", root, None)
        >>> ds.classes, [(r.key, r.label) for r in ds.records]
        (['jump', 'run'], [('jump/a.mp4', 0), ('run/b.mp4', 1)])
    """
    annotations = Path(annotations)
    if not annotations.exists():
        raise FileNotFoundError(f"annotations {annotations} do not exist")
    if dataset in TRANSFER_DATASETS:
        if dataset == "ucf101":
            data = read_ucf101(annotations, video_root)
        elif dataset == "hmdb51":
            data = read_hmdb51(annotations, video_root, split, "test")
        else:
            data = read_video_folders(annotations, "all")
        return data if classes is None else align_classes(data, classes)
    if dataset == "ssv2":
        labels = labels or annotations.parent / "labels.json"
        return read_ssv2(annotations, labels, video_root, frame_list=frame_list)
    if dataset == "charades":
        if frame_list is not None and not is_frame_list(annotations):  # it would be read for nothing
            raise AnnotationError(frame_list, None, "Charades takes its frame list as the annotations themselves "
                                  "(--annotations FRAME_LIST), not beside its CSV")
        if classes is None and (annotations.parent / "Charades_v1_classes.txt").exists():
            classes = annotations.parent / "Charades_v1_classes.txt"
        if is_frame_list(annotations):
            return read_charades_frame_list(annotations, video_root, classes)
        return read_charades(annotations, video_root, classes)
    with open_annotation(annotations) as f:
        first = f.readline()
    if "youtube_id" in first and any(d in first for d in CSV_DELIMITERS):
        return read_kinetics_csv(annotations, video_root, classes, name=dataset)
    return read_path_label_list(annotations, video_root, classes, name=dataset)
