"""The published tables as data: one TOML file per dataset, the single source of truth.

Each file has a ``[defaults]`` table (fields shared by the dataset's entries) and one
``[[entry]]`` table per published row. :func:`load_entries` merges the two and returns the raw
records in file order; :mod:`zoo.registry` turns them into :class:`zoo.ZooEntry` objects.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources
from pathlib import Path

from zoo.catalog.torchvision_weights import fill as fill_from_torchvision

#: A catalogue ``url`` without a scheme (the demo checkpoint shipped with the project) is a path
#: relative to the folder that holds the ``zoo`` package (the project root, or site-packages).
PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent

#: Catalogue files, in the order the tables are published (torchvision's Kinetics-400 weights
#: after PyTorchVideo's, in the same Kinetics-400 table).
DATASET_FILES = ("kinetics400", "torchvision", "ssv2", "charades", "ava", "demo")


@lru_cache(maxsize=1)
def load_protocols() -> dict[str, dict]:
    """Test-input protocols (``protocols.toml``): name -> field -> ``{"value", "source"}`` (and ``description``)."""
    text = resources.files(__name__).joinpath("protocols.toml").read_text("utf-8")
    return tomllib.loads(text)["protocol"]


def load_entries() -> list[dict]:
    """Return every published entry as a plain dict (defaults merged in), in table order."""
    records = []
    for dataset in DATASET_FILES:
        text = resources.files(__name__).joinpath(f"{dataset}.toml").read_text("utf-8")
        data = tomllib.loads(text)
        defaults = dict(data.get("defaults", {}))
        url_base = defaults.pop("url_base", "")
        for raw in data.get("entry", []):
            record = {**defaults, **raw}
            if "weights" in record:  # torchvision weights: figures read from their meta (torchvision_weights.py)
                record = fill_from_torchvision(record)
            if "url" not in record and "file" in record:
                record["url"] = url_base + record["file"]
            record.pop("file", None)
            if "url" in record and "://" not in record["url"] and not Path(record["url"]).is_absolute():
                record["url"] = str(PACKAGE_ROOT / record["url"])
            records.append(record)
    return records


@lru_cache(maxsize=1)
def _anchor_records() -> tuple[dict, ...]:
    text = resources.files(__name__).joinpath("transfer_anchors.toml").read_text("utf-8")
    data = tomllib.loads(text)
    defaults = data.get("defaults", {})
    return tuple({**defaults, **raw} for raw in data.get("anchor", []))


def load_transfer_anchors(dataset: str | None = None) -> list[dict]:
    """Peers' published fine-tuning results from Kinetics-400 weights (``transfer_anchors.toml``).

    One dict per published row, in file order (``dataset`` ``"ucf101"`` or ``"hmdb51"`` keeps
    that dataset's): ``name``, ``arch``, ``backbone``, ``dataset``, ``split``, ``pretrain``,
    ``input``, ``test_views``, ``top1``, ``top5``, and where they were read: ``repo``, ``tag``,
    ``source`` (the README) and ``config`` (paths inside ``repo`` at ``tag``).

    Example:
        >>> rows = load_transfer_anchors("ucf101")
        >>> [(r["arch"], r["top1"]) for r in rows][:2]
        [('SlowOnly', 92.78), ('TSM', 94.5)]
        >>> rows[0]["repo"], rows[0]["tag"], rows[0]["source"]
        ('open-mmlab/mmaction2', 'v0.24.1', 'configs/recognition/slowonly/README.md')
    """
    if dataset is not None and dataset not in ("ucf101", "hmdb51"):
        raise ValueError(f"dataset must be ucf101 or hmdb51, got {dataset!r}")
    return [dict(r) for r in _anchor_records() if dataset is None or r["dataset"] == dataset]
