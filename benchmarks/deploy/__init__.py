"""Deployment, measured: the ``zoo export`` command and the runtimes' latency and coverage.

The export itself is the library's (:mod:`zoo.deploy`, :func:`zoo.export`); this stage adds
what a measurement needs around it:

- :mod:`~benchmarks.deploy.export`: ``zoo export``, with calibration clips from an annotation file;
- :mod:`~benchmarks.deploy.speed`: ``zoo speed --runtime ...``, latency per runtime beside
  PyTorchVideo's eager model;
- :mod:`~benchmarks.deploy.report`: ``results/deploy.md``, the latency table, the coverage
  matrix and the plot.

Inside, :mod:`~benchmarks.deploy.report` imports neither of the others (``[tool.importlinter]``).
"""
