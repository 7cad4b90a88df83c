"""Moved to :mod:`zoo.input.frames`: the library owns the input path. This module hands out its names with a
``DeprecationWarning`` for one release."""

from benchmarks.compat import moved_module

__getattr__ = moved_module(__name__, "zoo.input.frames")
