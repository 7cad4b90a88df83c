"""How a training run shares the CPUs between the model's threads and the decoding workers.

On a CPU the model's step and the workers' decoding compete for the same cores. Left to
themselves, torch takes every core for its threads (which spin while they wait for work) and the
workers take the same cores again: on 2 CPUs with 2 workers, the demo model's loop ran at 38% of
its own rate. :class:`CpuShare` gives the model its threads first:

- the model gets ``threads`` torch threads (default: the CPUs less one per worker, at least 1);
- the workers run at the lowest priority (``nice`` 19), so that where they and the model's
  threads want the same CPU, the scheduler runs the model's step and the workers decode in the
  time it leaves (and on the CPUs its threads leave free). On 2 CPUs this took the demo loop from
  83% to 90% of the model's own rate (`results/train_throughput.md`); pinning the workers to the
  spare CPU instead did no better, since a CPU-pinned worker cannot use the model's CPU while the
  model waits.

On a GPU, or under ``torchrun`` (several ranks on the same CPUs), the model's threads are left as
torch sets them; the workers' priority is lowered all the same.

Example:
    >>> share = CpuShare.plan(workers=2, cpus=2)
    >>> share.model_threads, share.worker_niceness
    (1, 19)
    >>> CpuShare.plan(workers=4, cpus=16).model_threads
    12
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass

import torch

from benchmarks.runtime.workers import batch_worker_init

#: The workers' priority offset: the lowest a process may take without privileges.
WORKER_NICENESS = 19


def cpu_model() -> str:
    """The CPU's model name as the OS gives it (``/proc/cpuinfo``), else the platform's word for it:
    a latency or throughput figure means little without the machine it was measured on.

    Example:
        >>> isinstance(cpu_model(), str) and cpu_model() != ""
        True
    """
    import platform

    try:
        for line in open("/proc/cpuinfo", encoding="utf-8", errors="replace"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine() -> str:
    """What a measurement was made on, as the result pages name it: CPU model and usable count.

    Example:
        >>> machine().endswith(f", {usable_cpus()} CPUs")
        True
    """
    return f"{cpu_model()}, {usable_cpus()} CPUs"


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the OS has one, else all)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class CpuShare:
    """The main process's torch threads and the priority offset of its decoding workers."""

    model_threads: int
    worker_niceness: int = WORKER_NICENESS

    @classmethod
    def plan(cls, workers: int, threads: int | None = None, *, cpus: int | None = None,
             device: str = "cpu", world_size: int = 1) -> CpuShare:
        """The share for ``workers`` decoding workers (module docstring); ``threads`` the
        model's torch threads where the caller chose them; ``cpus`` default :func:`usable_cpus`."""
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        if torch.device(device).type != "cpu" or world_size > 1 or not workers:
            return cls(threads or torch.get_num_threads())
        return cls(threads or max(1, (cpus or usable_cpus()) - workers))

    @contextlib.contextmanager
    def applied(self):
        """The model's torch threads in this process while the block runs (the caller's after)."""
        before = torch.get_num_threads()
        torch.set_num_threads(self.model_threads)
        try:
            yield self
        finally:
            torch.set_num_threads(before)

    def worker_init(self):
        """The DataLoader ``worker_init_fn`` of the workers (:func:`benchmarks.runtime.workers.batch_worker_init`
        at :attr:`worker_niceness`; picklable, for any start method)."""
        return functools.partial(batch_worker_init, niceness=self.worker_niceness)

    def describe(self) -> str:
        """In words, for logs and reports."""
        s = "s" if self.model_threads > 1 else ""
        return f"{self.model_threads} torch thread{s} for the model, decoding workers at nice +{self.worker_niceness}"
