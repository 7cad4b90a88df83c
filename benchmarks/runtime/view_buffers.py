"""Shared-memory buffers for the views a DataLoader worker hands over, reused video after video.

A worker builds a video's views (47 MiB for X3D-XS at 10x3) and the DataLoader passes them to
the main process through shared memory. By default torch copies each batch into a *fresh*
shared-memory file, whose pages the kernel allocates and zeroes one fault at a time: about
11,600 faults per video, some 60 ms of a worker's 180 ms on a 2-core machine, and CPU the
model then does not get. Here the worker builds the views straight into a shared-memory
buffer it keeps, and builds into that buffer again once the main process has let go of it.

The hand-back: each buffer has a *lease*, a one-number shared tensor sent with the views. It
reads 1 while the main process may still use the buffer; :func:`release_when_freed` (main
process) sets it to 0 when the last tensor sharing the views' memory is freed, however the
views were sliced or packed meanwhile. A worker never writes into a buffer whose lease reads
1: when none is free it takes a new one, up to ``limit``, and past that plain memory (torch's
own copy, as before). The pool keeps its largest size until the worker ends (with the
defaults up to 8 x 47 MiB of shared memory per worker for X3D-XS at 10x3).

Example (the worker's side, then the main process's):
    >>> import gc, torch
    >>> buffers = ViewBuffers(limit=2)
    >>> with buffers.building():
    ...     views = buffers.empty((30, 3, 4, 8, 8))  # what a ViewBuilder asks for
    ...     lease = buffers.claim(views)
    >>> int(lease), views.is_shared()
    (1, True)
    >>> _ = lease.fill_(0)  # the main process is done with them (see below)
    >>> with buffers.building():
    ...     again = buffers.empty((30, 3, 4, 8, 8))
    >>> again.data_ptr() == views.data_ptr(), buffers.count  # the same memory, filled anew
    (True, 1)
    >>> received = torch.zeros(30, 3), torch.ones(1, dtype=torch.int32).share_memory_()  # in the main process
    >>> release_when_freed(*received)
    >>> first_views = received[0][:3]  # a slice keeps the memory in use
    >>> received = received[1]; _ = gc.collect(); int(received)
    1
    >>> del first_views; _ = gc.collect(); int(received)
    0
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import Iterator

import torch

from zoo.transforms import views_allocated_by

#: Buffers one worker keeps at most: the DataLoader's prefetch (2 per worker), the video the
#: model is on, the next one already received, and a few held by cross-video batching.
#: 0: none (torch copies each batch to fresh shared memory; ``eval_throughput --view-buffers 0``).
DEFAULT_LIMIT = 8


class _Buffer:
    def __init__(self, numel: int):
        self.memory = torch.empty(numel).share_memory_()
        self.lease = torch.zeros(1, dtype=torch.int32).share_memory_()

    def free(self) -> bool:
        return int(self.lease[0]) == 0

    def holds(self, views) -> bool:
        # SlowFast's [slow, fast]: the fast pathway is the built batch itself
        parts = views if isinstance(views, list | tuple) else [views]
        return any(isinstance(p, torch.Tensor) and p.untyped_storage().data_ptr() == self.memory.data_ptr()
                   for p in parts)


class ViewBuffers:
    """A worker's shared-memory buffers for view batches (see the module docstring).

    Within :meth:`building`, every view batch a :class:`zoo.transforms.ViewBuilder` makes
    comes from :meth:`empty` (SlowFast's two pathways as one block); :meth:`claim` then gives
    the lease to send with the views. A buffer taken but not claimed (the views came out as
    new tensors, e.g. after a channel flip; or building failed) goes straight back to the pool.
    """

    def __init__(self, limit: int | None = None):
        self.limit = DEFAULT_LIMIT if limit is None else limit  # read now: an ablation may set it to 0
        self.fallbacks = 0  # batches built in plain memory: every buffer was lent
        self._buffers: list[_Buffer] = []
        self._taken: list[_Buffer] = []

    @property
    def count(self) -> int:
        """Buffers kept now (free or lent)."""
        return len(self._buffers)

    def empty(self, shape) -> torch.Tensor:
        """An uninitialised float32 tensor of ``shape``: a free shared buffer when there is one."""
        numel = math.prod(shape)
        buffer = next((b for b in self._buffers if b.memory.numel() == numel and b.free()), None)
        if buffer is None:
            # a buffer of another size is only dead weight now (the views' shape changed)
            self._buffers = [b for b in self._buffers if b.memory.numel() == numel or not b.free()]
            if len(self._buffers) >= self.limit:  # the main process holds them all
                self.fallbacks += 1
                return torch.empty(shape)
            buffer = _Buffer(numel)
            self._buffers.append(buffer)
        buffer.lease.fill_(1)
        self._taken.append(buffer)
        return buffer.memory.view(shape)

    @contextlib.contextmanager
    def building(self) -> Iterator[None]:
        """View batches built within come from this pool; unclaimed ones return to it on exit."""
        try:
            with views_allocated_by(self.empty):
                yield
        finally:
            for buffer in self._taken:
                buffer.lease.fill_(0)
            self._taken.clear()

    def claim(self, views) -> torch.Tensor | None:
        """The lease to hand over with ``views`` (a tensor or ``[slow, fast]``) when they live
        in one of this pool's buffers (else None: nothing to give back)."""
        for buffer in self._taken:
            if buffer.holds(views):
                self._taken.remove(buffer)
                return buffer.lease
        return None


_WORKER_BUFFERS: ViewBuffers | None = None


def worker_buffers(videos_held: int = 0) -> ViewBuffers:
    """This process's :class:`ViewBuffers` (made on first use, in the worker itself).

    ``videos_held``: videos whose views the main process may hold at once beyond the usual
    (cross-video batching holds a pass's worth), so the pool may keep that many more buffers.
    """
    global _WORKER_BUFFERS
    if _WORKER_BUFFERS is None:
        _WORKER_BUFFERS = ViewBuffers(DEFAULT_LIMIT + videos_held if DEFAULT_LIMIT else 0)
    return _WORKER_BUFFERS


def release_when_freed(views, lease: torch.Tensor) -> None:
    """Main process: give the buffer behind ``views`` (a tensor, or SlowFast's ``[slow, fast]``)
    back to its worker once every tensor sharing their memory (slices and views of them
    included) has been freed."""
    if not lease.is_shared():  # e.g. a DataLoader with pin_memory=True copied it: the worker would never see it
        raise ValueError("the lease is a copy, not the worker's shared memory (a DataLoader with pin_memory=True?)")
    parts = views if isinstance(views, list | tuple) else [views]
    storages = {p.untyped_storage().data_ptr(): p.untyped_storage() for p in parts}
    remaining = [len(storages)]

    def one_freed() -> None:
        remaining[0] -= 1
        if remaining[0] == 0:
            lease.fill_(0)

    # A storage's Python object lives exactly as long as its memory (torch keeps the two
    # together), so its finaliser runs when nothing can read that memory any more. Which part
    # is the worker's buffer is not told, so the lease waits for all of them.
    for storage in storages.values():
        weakref.finalize(storage, one_freed)
