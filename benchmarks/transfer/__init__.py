"""Transfer learning: an entry's embeddings, a new head and fine-tuning on a user's classes.

The stage after evaluation: it reads videos with the library's input path (``zoo.input``),
measures with the harness's evaluation (:mod:`benchmarks.evaluate`) and reads its data with
:func:`benchmarks.datasets.read_transfer_split` (UCF101, HMDB51, a folder per class).

- :mod:`~benchmarks.transfer.finetune`: ``zoo finetune`` (linear or full, resumable, DDP);
- :mod:`~benchmarks.transfer.linear_probe`: ``--mode linear --cached-features``, a head trained
  on embeddings made once;
- :mod:`~benchmarks.transfer.features`: ``zoo features``, per-video embeddings (resumable, sharded);
- :mod:`~benchmarks.transfer.table`: ``results/finetune.md|csv``, a row per run, the demo
  transfer task's tables and the peers' published anchors.

Inside, each module imports only those listed after it (``[tool.importlinter]`` checks it).
"""
