"""How an evaluation's work runs: processes, threads, shared memory and result files.

- :mod:`~benchmarks.runtime.shards`: one job over torchrun ranks, one result file per rank;
- :mod:`~benchmarks.runtime.merge`: ``zoo merge``, the exact merge of those files;
- :mod:`~benchmarks.runtime.files`: atomic writes (a reader never sees half a file);
- :mod:`~benchmarks.runtime.prefetch`: items produced on a thread ahead of the consumer;
- :mod:`~benchmarks.runtime.view_buffers`: shared-memory buffers DataLoader workers reuse.
"""
