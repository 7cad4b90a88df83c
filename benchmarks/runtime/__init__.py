"""How an evaluation's work runs: processes, threads, shared memory and result files.

- :mod:`~benchmarks.runtime.shards`: one job over torchrun ranks, one result file per rank;
- :mod:`~benchmarks.runtime.files`: atomic writes (a reader never sees half a file);
- :mod:`~benchmarks.runtime.prefetch`: items produced on a thread ahead of the consumer;
- :mod:`~benchmarks.runtime.view_buffers`: shared-memory buffers DataLoader workers reuse;
- :mod:`~benchmarks.runtime.workers`: how decoding workers start and hand items over.

The bottom of the harness: it imports nothing of the evaluations above it (nor they each
other's internals); of ``zoo`` it uses only the hooks it serves (views built into its
buffers, memory kept between videos).
"""
