"""Old import paths that moved, kept for one release with a :class:`DeprecationWarning`.

The input path (decoding, frame folders, AVA keyframes) and :func:`zoo.predict` moved from the
harness into the library (``zoo``); code that imported them from here keeps working, and is
told where they live now.

Example:
    >>> import warnings
    >>> lookup = moved_names("benchmarks.video", {"read_views": "zoo.input.video"})
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     lookup("read_views").__module__, caught[0].category.__name__
    ('zoo.input.video', 'DeprecationWarning')
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable


def _warn(old: str, new: str) -> None:
    warnings.warn(f"{old} moved to {new}; import it from there (the old path goes in the next release)",
                  DeprecationWarning, stacklevel=3)


def moved_names(old_module: str, homes: dict[str, str]) -> Callable[[str], object]:
    """A module-level ``__getattr__`` for ``old_module`` handing out the names in ``homes``
    (name -> the module that holds it now), each with a warning."""

    def lookup(name: str):
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {old_module!r} has no attribute {name!r}")
        _warn(f"{old_module}.{name}", f"{home}.{name}")
        return getattr(importlib.import_module(home), name)

    return lookup


def moved_module(old_module: str, new_module: str) -> Callable[[str], object]:
    """A module-level ``__getattr__`` for a module that moved whole to ``new_module``."""

    def lookup(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        module = importlib.import_module(new_module)
        if not hasattr(module, name):
            raise AttributeError(f"module {old_module!r} (now {new_module!r}) has no attribute {name!r}")
        _warn(f"{old_module}.{name}", f"{new_module}.{name}")
        return getattr(module, name)

    return lookup
