"""Training batches handed from the decoding workers to the main process through reused slots.

Torch's DataLoader gives each batch a worker makes a new shared-memory segment: the worker
creates and maps it, the main process maps it again when the batch arrives (through
``torch_shm_manager``, a round trip to another process) and unmaps it when the step is done.
For the demo model's 17 ms step on this VM's 2 CPUs that hand-over cost the main process about
0.7 ms a batch, and its step ran 2-5% slower on freshly mapped pages. Here each worker instead
keeps a small ring of shared batches ("slots") that it fills in turn, and sends the main process
only the slot's number and the labels; the main process maps a worker's ring once, at its first
batch.

Each slot has a lease, a shared flag the worker sets when it fills the slot and the main process
clears once the batch is done with: the batch is lent to the training step without a copy, and
its lease ends when the batch and every view of it are freed. A worker never fills a leased slot
(it then hands that batch over the usual way), so a batch the caller keeps stays intact. With
``prefetch_factor + 2`` slots that does not happen in a training loop: the DataLoader sends a
worker its batch ``i`` only after it has yielded the same worker's batch ``i - prefetch_factor``
(work goes round robin, one new task for each batch yielded), and the loop lets go of a batch
when it takes the next. The lease is a plain shared flag, with no memory fence: the worker reads it
before it writes the slot, and the main process clears it after the step's reads are over and
the batch is freed (on a weakly ordered CPU this relies on that distance).

Example:
    >>> import torch
    >>> collate = ClipSlots(capacity=2)
    >>> collate([(torch.ones(3), 1), (None, 0), (torch.zeros(3), 2)])  # in the main process: a plain batch
    (tensor([[1., 1., 1.],
            [0., 0., 0.]]), (1, 2))
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch

from benchmarks.runtime.view_buffers import release_when_freed

#: Slots beyond the DataLoader's prefetch factor in each worker's ring (see the module docstring).
SPARE_SLOTS = 2


@dataclass
class SlotBatch:
    """What a worker sends for a batch: where it lies (``ring``, ``slot``, ``count`` clips) and,
    with a ring's first batch only, the ring itself (its shared tensors, one list of pathways
    per slot). ``pathways``: whether a clip is a list of pathways (SlowFast) or one tensor."""

    ring: str
    slot: int
    count: int
    pathways: bool
    slots: list[list[torch.Tensor]] | None = None
    leases: torch.Tensor | None = None  # with the ring: one shared flag per slot


class _Ring:
    """A worker's slots for batches of one clip layout."""

    def __init__(self, shapes, dtypes, capacity: int, depth: int):
        self.id = uuid.uuid4().hex
        self.slots = [[torch.empty((capacity, *shape), dtype=dtype).share_memory_() for shape, dtype in zip(shapes, dtypes)]
                      for _ in range(depth)]
        self.leases = torch.zeros(depth, dtype=torch.int32).share_memory_()  # 1: lent to the main process
        self.filled, self.sent, self.fallbacks = 0, False, 0


# this worker process's ring, by clip layout (shapes, dtypes, capacity, depth): one at a time
_RINGS: dict[tuple, _Ring] = {}


def _readable(items) -> tuple[list, tuple[int, ...]] | tuple[None, None]:
    """The readable clips of a batch's ``(clip, label)`` items and their labels as ints."""
    kept = [(c, y) for c, y in items if c is not None]
    if not kept:
        return None, None
    clips, labels = zip(*kept)
    return list(clips), tuple(int(y) for y in labels)


def _stacked(per_clip: list[list[torch.Tensor]], pathways: bool):
    # torch's default_collate: in a worker it stacks straight into shared memory (the usual
    # hand-over then moves no bytes); a list of pathways per clip collates to a list of stacked ones
    return torch.utils.data.default_collate([c if pathways else c[0] for c in per_clip])


def readable_batch(items):
    """``(batch, labels)`` of ``(clip, label)`` items in this process: the readable clips stacked
    (SlowFast: each pathway) and their labels as a tuple of ints (:func:`benchmarks.transfer.finetune.train_step`
    makes the tensor); ``(None, None)`` if no clip could be read.

    Example:
        >>> import torch
        >>> batch, labels = readable_batch([(torch.zeros(3, 2), 1), (None, 0), (torch.ones(3, 2), 4)])
        >>> batch.shape, labels
        (torch.Size([2, 3, 2]), (1, 4))
    """
    clips, labels = _readable(items)
    if clips is None:
        return None, None
    pathways = isinstance(clips[0], (list, tuple))
    return _stacked([list(c) if pathways else [c] for c in clips], pathways), labels


class ClipSlots:
    """A training DataLoader's ``collate_fn`` for ``(clip, label)`` items (``clip``: a tensor,
    a list of pathways, or None for an unreadable video, which the batch goes without).

    In a worker it stacks the readable clips into the next slot of the worker's ring and
    returns ``(SlotBatch, labels)``, which :func:`received` turns back into ``(batch, labels)``
    in the main process; without workers it returns ``(batch, labels)`` directly. ``capacity``:
    the largest batch (a larger one goes the usual way); ``prefetch_factor``: the DataLoader's.
    """

    def __init__(self, capacity: int, prefetch_factor: int = 2):
        self.capacity, self.depth = capacity, prefetch_factor + SPARE_SLOTS

    def __call__(self, items):
        clips, labels = _readable(items)
        if clips is None:
            return None, None
        pathways = isinstance(clips[0], (list, tuple))
        per_clip = [list(c) if pathways else [c] for c in clips]
        if torch.utils.data.get_worker_info() is None:
            return _stacked(per_clip, pathways), labels
        if len(clips) > self.capacity:  # a batch larger than the slots: the usual hand-over
            return _stacked(per_clip, pathways), labels
        first = per_clip[0]
        key = (tuple(tuple(t.shape) for t in first), tuple(t.dtype for t in first), self.capacity, self.depth)
        ring = _RINGS.get(key)
        if ring is None:  # another clip layout: a new ring replaces the old one
            _RINGS.clear()
            ring = _RINGS[key] = _Ring(key[0], key[1], self.capacity, self.depth)
        slot = ring.filled % self.depth
        ring.filled += 1
        if ring.leases[slot]:  # still lent (module docstring): the usual hand-over
            ring.fallbacks += 1
            return _stacked(per_clip, pathways), labels
        for k, target in enumerate(ring.slots[slot]):
            torch.stack([c[k] for c in per_clip], out=target[:len(clips)])
        ring.leases[slot] = 1
        message = SlotBatch(ring.id, slot, len(clips), pathways, *((None, None) if ring.sent else (ring.slots, ring.leases)))
        ring.sent = True  # a live iterator drops no message (persistent workers take the usual way)
        return message, labels


def _lent(part: torch.Tensor) -> torch.Tensor:
    """``part`` of a slot, without a copy, as a tensor of its own storage (the slot's storage
    lives as long as the ring; this one as long as the batch, which is when its lease ends).
    A dtype numpy cannot view (bfloat16) is copied instead."""
    try:
        return torch.from_numpy(part.numpy())
    except TypeError:
        return part.clone()


def received(batches: Iterable, rings: dict | None = None) -> Iterator:
    """``(batch, labels)`` for each ``(SlotBatch, labels)`` of a DataLoader with :class:`ClipSlots`
    workers (anything else passes as it is): each batch is its slot's memory, lent until the
    batch and every view of it are freed, when the slot's lease ends
    (:func:`benchmarks.runtime.view_buffers.release_when_freed`). ``rings``: the rings received
    so far, by id."""
    rings = {} if rings is None else rings
    for x, y in batches:
        # handed on without a name here: this generator must not keep a lent batch alive
        yield _unpacked(x, rings), y


def _unpacked(x, rings: dict):
    if not isinstance(x, SlotBatch):
        return x
    if x.slots is not None:
        rings[x.ring] = x.slots, x.leases
    slots, leases = rings[x.ring]
    tensors = [_lent(t[:x.count]) for t in slots[x.slot]]
    release_when_freed(tensors, leases[x.slot:x.slot + 1])
    return tensors if x.pathways else tensors[0]


class SlotLoader(torch.utils.data.DataLoader):
    """A DataLoader whose workers hand batches over through :class:`ClipSlots` (see the module
    docstring); iterating it yields ``(batch, labels)`` as a plain DataLoader would.

    Example:
        >>> import torch
        >>> data = [(torch.full((2,), float(i)), i) for i in range(5)]
        >>> loader = SlotLoader(data, batch_size=2, capacity=2)
        >>> [(x[:, 0].tolist(), y) for x, y in loader]
        [([0.0, 1.0], (0, 1)), ([2.0, 3.0], (2, 3)), ([4.0], (4,))]
    """

    def __init__(self, dataset, *, capacity: int, pin_memory: bool = False, **kwargs):
        """``capacity``: the largest batch (a larger one goes the usual way); anything else as
        :class:`torch.utils.data.DataLoader` takes it, but ``collate_fn``. Two kinds of loader
        hand their batches over the usual way: a GPU's (``pin_memory``: the DataLoader's own
        thread copies each batch into page-locked memory while the step runs, a copy anyway,
        which leaves a slot nothing to save) and one with ``persistent_workers`` (a new epoch's
        iterator drops the batches still in flight, and with them a ring's first message or
        the end of a slot's lease)."""
        if "collate_fn" in kwargs:
            raise TypeError("SlotLoader collates with ClipSlots")
        plain = pin_memory or kwargs.get("persistent_workers")
        collate = readable_batch if plain else ClipSlots(capacity, kwargs.get("prefetch_factor") or 2)
        super().__init__(dataset, collate_fn=collate, pin_memory=pin_memory, **kwargs)

    def __iter__(self):
        return received(super().__iter__())  # new workers, new rings: mapped for this iterator alone
