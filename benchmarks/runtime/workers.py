"""What the harness's DataLoader decoding workers share: how they start and how items pass.

Example:
    >>> as_is({"index": 3})
    {'index': 3}
"""

from __future__ import annotations

import os
import signal

import torch

from zoo.host_memory import keep_freed_memory


def as_is(item):
    """The DataLoader's ``collate_fn``: one item per video (or keyframe), passed on unbatched."""
    return item


def decoding_worker_init(_) -> None:
    """A decoding worker's start: one torch thread (the model's threads live in the main
    process), freed memory kept, so each video's views reuse the last one's pages, and Ctrl-C
    left to the main process."""
    torch.set_num_threads(1)
    keep_freed_memory()
    # Ctrl-C reaches every process of the terminal's group: the main process stops the run (and
    # its workers) and says how to resume; a worker stopped by it too would print its own traceback,
    # then the main process "DataLoader worker exited unexpectedly"
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def batch_worker_init(worker_id: int, niceness: int = 0) -> None:
    """A training loader's worker start: :func:`decoding_worker_init`, ``niceness`` added to its
    priority (:class:`benchmarks.runtime.cpus.CpuShare`), and its batches handed over by name.

    Torch's default hand-over (``file_descriptor``) sends each shared tensor's descriptor over a
    socket that the main process opens to the worker, so receiving a batch waits for a busy
    worker to answer (1.3 ms of the demo model's 17 ms step on this VM's 2 CPUs). With
    ``file_system``, set here in the worker alone, the main process maps shared memory by its
    name through torch's ``torch_shm_manager``, which also removes the names of segments a
    killed run left behind. (Training batches now cross in reused slots,
    :mod:`benchmarks.runtime.batch_slots`, mapped once per worker; a batch a worker cannot put
    in a slot, a GPU loader's batches and validation's still cross this way.)
    """
    decoding_worker_init(worker_id)  # Ctrl-C ignored there too
    if niceness and hasattr(os, "nice"):
        os.nice(niceness)
    torch.multiprocessing.set_sharing_strategy("file_system")
