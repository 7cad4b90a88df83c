"""videozoo harness: evaluation, metrics, complexity, tables, reproduce, speed, the CLI.

The top layer, built on the library: it imports ``zoo`` (whose input path, scoring and
prediction it uses as a user would) and third-party libraries; ``zoo`` never imports it.
Inside, the top level follows an evaluation's data flow (:mod:`~benchmarks.datasets` ->
``zoo.input`` -> :mod:`~benchmarks.evaluate` -> :mod:`~benchmarks.metrics` ->
:mod:`~benchmarks.tables`), described once by :mod:`~benchmarks.run_config`, plus the
commands built on it (:mod:`~benchmarks.cli`, :mod:`~benchmarks.reproduce`,
:mod:`~benchmarks.predict`, :mod:`~benchmarks.audit`, :mod:`~benchmarks.complexity`,
:mod:`~benchmarks.speed`). Subpackages group the rest by job: :mod:`benchmarks.runtime` (ranks,
threads, shared memory, atomic files, decoding workers), :mod:`benchmarks.ava` (the detection
pipeline), :mod:`benchmarks.transfer` (embeddings, linear probes and fine-tuning on a user's
classes), :mod:`benchmarks.deploy` (``zoo export``, the runtimes' latency and coverage),
:mod:`benchmarks.demo` (the demo set and model), :mod:`benchmarks.perf` (measurements of the
harness itself). What may import what, stage by stage, is the
``[tool.importlinter]`` contracts of ``pyproject.toml``, which ``make test`` checks.
:mod:`~benchmarks.compat` and the modules ``video``, ``frames``, ``ava.keyframes`` keep the
old import paths of what moved into ``zoo`` working for one release, with a warning.
"""
