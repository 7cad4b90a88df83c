"""Registry: published entries (data from :mod:`zoo.catalog`) mapped to our builders.

Example:
    >>> import zoo
    >>> zoo.get_entry("slowfast_r50").name
    'slowfast_r50_8x8_kinetics400'
    >>> zoo.list_models("x3d_*")[:2]
    ['x3d_l_16x5_kinetics400', 'x3d_m_16x5_kinetics400']
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any, Callable

from zoo.catalog import load_entries


class UnknownModelError(KeyError):
    """Raised for a name that is neither a canonical entry name nor an alias; it suggests close ones.

    Example:
        >>> import zoo
        >>> zoo.get_entry("x3d_xss")
        Traceback (most recent call last):
        ...
        zoo.registry.UnknownModelError: Unknown model 'x3d_xss'. Did you mean: x3d_xs, x3d_s, x3d_m?
    """

    def __str__(self) -> str:  # KeyError quotes its message; show it as written
        return str(self.args[0])


class BuilderNotAvailableError(NotImplementedError):
    """Raised when an entry is catalogued but its model family has no builder yet (none today:
    every catalogued family builds).

    Example:
        >>> import zoo
        >>> all(zoo.get_entry(n).builder for n in zoo.list_models(dataset=None))
        True
    """


@dataclass(frozen=True)
class ZooEntry:
    """One published model: its test protocol, published figures and how to build it.

    Example:
        >>> import zoo
        >>> entry = zoo.get_entry("x3d_xs")
        >>> entry.name, entry.num_frames, entry.sampling_rate, entry.crop_size, entry.published["top1"]
        ('x3d_xs_4x12_kinetics400', 4, 12, 182, 69.12)
    """

    name: str
    arch: str
    depth: str
    dataset: str
    num_classes: int
    num_frames: int
    sampling_rate: int
    crop_size: int
    side_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    temporal_clips: int
    spatial_crops: int
    builder: str
    url: str
    params_m: float
    aliases: tuple[str, ...] = ()
    pretrain: str = "-"
    published: dict[str, float] = field(default_factory=dict)
    gflops: float | None = None
    sha256: str | None = None
    alpha: int | None = None
    multilabel: bool = False
    note: str = ""
    #: For SlowFast, num_frames/sampling_rate describe the fast pathway (the clip decoded);
    #: ``frames_x_rate`` is the published column ("8x8" names the slow pathway).
    frames_x_rate: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def views(self) -> int:
        """Number of views per video at test time (spatial crops x temporal clips)."""
        return self.spatial_crops * self.temporal_clips

    @property
    def views_label(self) -> str:
        """The published 'x views' label, e.g. ``'3 x 10'`` (crops x clips)."""
        return f"{self.spatial_crops} x {self.temporal_clips}"

    def build_fn(self) -> Callable[..., Any]:
        """Resolve the builder ``"module:function"`` under :mod:`zoo.models`."""
        module_name, _, fn_name = self.builder.partition(":")
        try:
            module = importlib.import_module(f"zoo.models.{module_name}")
        except ModuleNotFoundError as err:
            if err.name != f"zoo.models.{module_name}":
                raise
            raise BuilderNotAvailableError(
                f"{self.name} is catalogued but its builder ({self.builder}) is not written yet"
            ) from None
        try:
            return getattr(module, fn_name)
        except AttributeError:
            raise BuilderNotAvailableError(
                f"{self.name} is catalogued but zoo.models.{module_name} has no {fn_name}()"
            ) from None

    def as_record(self) -> dict[str, Any]:
        """A flat dict of every field, published metrics as ``top1``/``top5``/``map``."""
        record = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("published", "extra")}
        record["aliases"] = ",".join(self.aliases)
        for metric in ("top1", "top5", "map"):
            record[metric] = self.published.get(metric)
        record["views"] = self.views_label
        record.update(self.extra)
        return record


_FIELD_NAMES = {f.name for f in fields(ZooEntry)}


def _entry_from_record(record: dict[str, Any]) -> ZooEntry:
    record = dict(record)
    published = {m: record.pop(m) for m in ("top1", "top5", "map") if m in record}
    if record["arch"] == "slowfast":
        alpha = record["alpha"]
        slow_frames = record["num_frames"] // alpha
        frames_x_rate = f"{slow_frames}x{record['sampling_rate'] * alpha}"
    else:
        frames_x_rate = f"{record['num_frames']}x{record['sampling_rate']}"
    known = {k: v for k, v in record.items() if k in _FIELD_NAMES}
    extra = {k: v for k, v in record.items() if k not in _FIELD_NAMES}
    known["aliases"] = tuple(known.get("aliases", ()))
    known["mean"] = tuple(known["mean"])
    known["std"] = tuple(known["std"])
    return ZooEntry(**known, published=published, frames_x_rate=frames_x_rate, extra=extra)


@lru_cache(maxsize=1)
def _entries() -> dict[str, ZooEntry]:
    entries: dict[str, ZooEntry] = {}
    for record in load_entries():
        entry = _entry_from_record(record)
        if entry.name in entries:
            raise ValueError(f"duplicate catalogue entry {entry.name!r}")
        entries[entry.name] = entry
    return entries


@lru_cache(maxsize=1)
def _aliases() -> dict[str, str]:
    aliases: dict[str, str] = {}
    for entry in _entries().values():
        for alias in entry.aliases:
            if alias in aliases or alias in _entries():
                raise ValueError(f"alias {alias!r} is not unique")
            aliases[alias] = entry.name
    return aliases


def all_entries() -> list[ZooEntry]:
    """Every catalogued entry, in published table order.

    Example:
        >>> import zoo
        >>> [e.name for e in zoo.all_entries()][:2]
        ['c2d_r50_8x8_kinetics400', 'i3d_r50_8x8_kinetics400']
    """
    return list(_entries().values())


def aliases() -> dict[str, str]:
    """Map of alias (PyTorchVideo hub name) -> canonical entry name.

    Example:
        >>> import zoo
        >>> zoo.aliases()["slowfast_r50"]
        'slowfast_r50_8x8_kinetics400'
    """
    return dict(_aliases())


def list_models(pattern: str = "*", dataset: str | None = None) -> list[str]:
    """Canonical entry names whose name or an alias matches a shell-style ``pattern``, optionally
    for one dataset (an unknown dataset raises ``ValueError`` naming the known ones).

    Example:
        >>> import zoo
        >>> zoo.list_models(dataset="ava")
        ['slow_r50_4x16_ava', 'slowfast_r50_8x8_ava']
        >>> zoo.list_models("x3d_xs")  # an alias
        ['x3d_xs_4x12_kinetics400']
    """
    entries = _entries().values()
    if dataset is not None and dataset not in {e.dataset for e in entries}:
        raise ValueError(f"unknown dataset {dataset!r}: the catalogue's are "
                         f"{', '.join(sorted({e.dataset for e in entries}))}")
    pattern = pattern.lower()
    names = [
        e.name
        for e in entries
        if any(fnmatch.fnmatchcase(n, pattern) for n in (e.name, *e.aliases))
        and (dataset is None or e.dataset == dataset)
    ]
    return sorted(names)


def get_entry(name: str) -> ZooEntry:
    """Return the entry for a canonical name or an alias.

    An unknown name raises :class:`UnknownModelError` that suggests the closest names.

    Example:
        >>> import zoo
        >>> zoo.get_entry("x3d_xs").crop_size
        182
    """
    key = name.strip().lower()
    entries = _entries()
    if key in entries:
        return entries[key]
    if key in _aliases():
        return entries[_aliases()[key]]
    candidates = list(entries) + list(_aliases())
    close = difflib.get_close_matches(key, candidates, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else " See zoo.list_models()."
    raise UnknownModelError(f"Unknown model {name!r}.{hint}")


def catalog():
    """Every entry as a :class:`pandas.DataFrame`, one row per entry, every field.

    Example:
        >>> import zoo
        >>> float(zoo.catalog().set_index("name").loc["c2d_r50_8x8_kinetics400", "params_m"])
        24.33
    """
    import pandas as pd

    return pd.DataFrame([e.as_record() for e in _entries().values()])
