"""Class names of every dataset in the zoo, in the published checkpoints' output order.

The lists are data (one name per line, ``<dataset>.txt`` beside this module); where each
came from and how its order was checked is in ``README.md`` here. Index ``i`` of a list is
output ``i`` of every checkpoint trained on that dataset.

- ``kinetics400``: 400 names, sorted (the order PySlowFast/PyTorchVideo index Kinetics).
- ``ssv2``: the 174 Something-Something V2 templates in ``labels.json`` index order.
- ``charades``: 157 names; index ``NNN`` is class ``cNNN`` of ``Charades_v1_classes.txt``.
- ``ava``: the 80 AVA v2.2 actions; index ``i`` is AVA action id ``i + 1``.
  :func:`ava_evaluated` gives the indices of the 60 the AVA benchmark scores.
- ``demo``: the 5 classes of the project's synthetic demo set.

Example:
    >>> from zoo.classes import class_names, ava_evaluated
    >>> names = class_names("kinetics400")
    >>> len(names), names[0], names[-1]
    (400, 'abseiling', 'zumba')
    >>> len(class_names("ssv2")), len(class_names("charades")), len(ava_evaluated())
    (174, 157, 60)
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

FOLDER = Path(__file__).resolve().parent

#: Where the official list of each dataset lives (said when a list cannot be found).
OFFICIAL_SOURCES = {
    "kinetics400": "the Kinetics-400 class names sorted (torchvision's Kinetics-400 video weights carry them as "
    "meta['categories']; PyTorchVideo's kinetics_classnames.json, "
    "https://dl.fbaipublicfiles.com/pyslowfast/dataset/class_names/kinetics_classnames.json, is the same order)",
    "ssv2": "labels.json of the Something-Something V2 download (Qualcomm/20BN), {template: index}",
    "charades": "Charades_v1_classes.txt in the Charades annotations zip (https://prior.allenai.org/projects/charades)",
    "ava": "ava_action_list_v2.2.pbtxt (https://research.google.com/ava/download.html)",
}


class ClassListUnavailable(LookupError):
    """No class list ships for a dataset; the message says where the official one lives."""


class ClassFileError(ValueError):
    """A class-name file that cannot be read as one: the message names the file (and line)."""

    def __init__(self, path, line: int | None, message: str):
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path, self.line, self.message = str(path), line, message


def read_class_file(path) -> list[str]:
    """Class names in index order from a file: text (one per line) or JSON ``{name: index}``.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "labels.json")
        >>> _ = open(path, "w").write('{"b": 1, "a": 0}')
        >>> read_class_file(path)
        ['a', 'b']
    """
    path = Path(path)
    text = path.read_text()
    if path.suffix == ".json":
        try:
            mapping = json.loads(text)
        except json.JSONDecodeError as err:
            raise ClassFileError(path, err.lineno, f"not valid JSON: {err.msg} (column {err.colno})") from None
        names = [None] * len(mapping)
        for name, index in mapping.items():
            i = int(index)
            if not 0 <= i < len(names) or names[i] is not None:
                raise ClassFileError(path, None, f"class {name!r}: index {index} is out of range or repeated")
            names[i] = name
        return names
    return [line.strip() for line in text.splitlines() if line.strip()]


@lru_cache(maxsize=None)
def _read(dataset: str) -> tuple[str, ...]:
    path = FOLDER / f"{dataset}.txt"
    if not path.is_file():
        where = OFFICIAL_SOURCES.get(dataset, "the dataset's own class list")
        raise ClassListUnavailable(
            f"no class names ship for dataset {dataset!r}; pass the checkpoint's class list with "
            f"--classes FILE (one name per line in output order, or JSON {{name: index}}); the official list is {where}"
        )
    return tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def class_names(dataset_or_entry) -> list[str]:
    """Class names in output order for a dataset name or a :class:`zoo.ZooEntry`."""
    dataset = getattr(dataset_or_entry, "dataset", dataset_or_entry)
    return list(_read(str(dataset)))


@lru_cache(maxsize=1)
def _ava_evaluated() -> tuple[int, ...]:
    ids = [int(x) for x in (FOLDER / "ava_evaluated_ids.txt").read_text().split()]
    return tuple(i - 1 for i in ids)


def ava_evaluated() -> list[int]:
    """Output indices (0-based) of the 60 AVA actions the benchmark evaluates (action id - 1)."""
    return list(_ava_evaluated())


def read_class_names(path) -> list[str]:
    """Class names in output order from a file a user gives: :func:`read_class_file`'s formats,
    Charades' ``cNNN name`` lines (``Charades_v1_classes.txt``) read as the names, quotes dropped.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "Charades_v1_classes.txt")
        >>> _ = open(path, "w").write("c000 Holding some clothes\\nc001 Putting clothes somewhere\\n")
        >>> read_class_names(path)
        ['Holding some clothes', 'Putting clothes somewhere']
    """
    names = read_class_file(path)
    if names and all(len(n) > 5 and n[0] == "c" and n[1:4].isdigit() and n[4] == " " for n in names):
        names = [n[5:].strip() for n in names]
    return [n.strip().strip('"') for n in names]


#: The class list a fine-tuning run writes beside its checkpoint (``zoo finetune``'s run folder).
CLASSES_BESIDE_CHECKPOINT = "classes.txt"


def classes_beside(checkpoint: Path | None, count: int | None) -> list[str] | None:
    """The names in ``classes.txt`` beside a local ``checkpoint`` file (or in a run folder), as
    ``zoo finetune`` leaves them beside its ``model.pyth``; None for no local file, no such list,
    or one that does not hold ``count`` names (the head's classes).

    Example:
        >>> import os, tempfile
        >>> run = Path(tempfile.mkdtemp())
        >>> _ = (run / "classes.txt").write_text("jump\\nwave\\n")
        >>> classes_beside(run / "model.pyth", 2), classes_beside(run / "model.pyth", 3)
        (['jump', 'wave'], None)
    """
    if checkpoint is None:
        return None
    folder = checkpoint if checkpoint.is_dir() else checkpoint.parent
    path = folder / CLASSES_BESIDE_CHECKPOINT
    if not path.is_file():
        return None
    names = [n.strip() for n in read_class_file(path)]
    return names if count is None or len(names) == count else None
