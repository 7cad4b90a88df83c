"""videozoo harness: evaluation, complexity, tables. Imports zoo; zoo never imports it.

The top level follows an evaluation's data flow (:mod:`~benchmarks.datasets` ->
:mod:`~benchmarks.video` / :mod:`~benchmarks.frames` -> :mod:`~benchmarks.evaluate` ->
:mod:`~benchmarks.metrics` -> :mod:`~benchmarks.tables`) plus the commands built on it
(:mod:`~benchmarks.cli`, :mod:`~benchmarks.reproduce`, :mod:`~benchmarks.predict`,
:mod:`~benchmarks.audit`, :mod:`~benchmarks.complexity`, :mod:`~benchmarks.speed`).
Subpackages group the rest by job: :mod:`benchmarks.runtime` (ranks, threads, shared memory,
atomic files), :mod:`benchmarks.ava` (the detection pipeline), :mod:`benchmarks.demo` (the
demo set and model), :mod:`benchmarks.perf` (measurements of the harness itself).
"""
