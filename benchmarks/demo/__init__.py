"""The demo dataset and the demo model trained on it, so `make run` reproduces an accuracy end to end.

- :mod:`~benchmarks.demo.videos`: renders the synthetic action videos deterministically;
- :mod:`~benchmarks.demo.train`: trains and publishes ``i3d_tiny_8x4_demo`` (its checkpoint,
  ``published.json`` and ``COMMAND.txt`` live beside this file).
"""
