"""Measurements of the harness itself: throughput, scaling, and which fast path pays.

Each module is a script (``python -m benchmarks.perf.<name>``) that times something beside a
reference measured in the same run and writes its table; none is needed to reproduce a
published number. ``zoo speed`` (:mod:`benchmarks.speed`) is the user-facing one.

- :mod:`~benchmarks.perf.eval_throughput`: videos/s of an evaluation against the model alone;
- :mod:`~benchmarks.perf.eval_scaling`: one process against N torchrun ranks;
- :mod:`~benchmarks.perf.ava_throughput`: keyframes/s of the AVA evaluation;
- :mod:`~benchmarks.perf.fast_ablation`: each step of :func:`zoo.optimize` alone and combined;
- :mod:`~benchmarks.perf.host_memory_ablation`: what keeping freed CPU memory buys;
- :mod:`~benchmarks.perf.agreement`: top-1 agreement of bf16/fp16 with fp32;
- ``gpu_speed.sh``: all the GPU figures of ``results/gpu/`` in one call.
"""
