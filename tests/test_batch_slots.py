"""The training loader's hand-over of batches through reused shared slots (benchmarks.runtime.batch_slots)."""

import gc
import time
import warnings

import torch

from benchmarks.runtime.batch_slots import SPARE_SLOTS, ClipSlots, SlotBatch, SlotLoader, received


class _Clips(torch.utils.data.Dataset):
    """Item i: a clip filled with i (every 5th unreadable), or SlowFast's two pathways."""

    def __init__(self, n, pathways=False):
        self.n, self.pathways = n, pathways

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i % 5 == 3:
            return None, i
        clip = torch.full((2, 3), float(i))
        return ([clip, torch.full((4,), -float(i))] if self.pathways else clip), i


def _expected(indices):
    return [i for i in indices if i % 5 != 3]


def test_every_batch_arrives_intact_while_the_workers_run_ahead_of_a_slow_step():
    loader = SlotLoader(_Clips(61), batch_size=4, capacity=4, num_workers=2)
    seen = []
    for k, (x, y) in enumerate(loader):
        want = _expected(range(4 * k, min(4 * k + 4, 61)))
        if k % 3 == 0:
            time.sleep(0.02)  # the workers fill the slots ahead meanwhile
        assert list(y) == want and x[:, 0, 0].tolist() == [float(i) for i in want]
        seen += want
    assert seen == _expected(range(61))  # the last batch holds a single clip


def test_batches_the_caller_keeps_stay_intact():
    # every batch held at once (more than the slots): a worker refills no slot still lent, it
    # hands those batches over the usual way
    batches = list(SlotLoader(_Clips(80), batch_size=2, capacity=2, num_workers=2))
    assert [y for _, y in batches] == [tuple(_expected(range(i, i + 2))) for i in range(0, 80, 2)]
    for x, y in batches:
        assert x[:, 0, 0].tolist() == [float(i) for i in y]


def test_a_lent_batch_frees_its_slot_when_it_and_its_views_are_gone():
    raw = torch.utils.data.DataLoader(_Clips(6), batch_size=2, num_workers=1, collate_fn=ClipSlots(capacity=2))
    rings = {}
    stream = received(iter(raw), rings=rings)
    x, y = next(stream)
    (slots, leases), = rings.values()
    first = x[:1]
    assert y == (0, 1) and int(leases[0]) == 1 and x.data_ptr() == slots[0][0].data_ptr()  # lent, no copy
    del x
    gc.collect()
    assert int(leases[0]) == 1  # a view still reads the slot
    del first
    gc.collect()
    assert int(leases[0]) == 0  # the worker may fill it again
    del stream


def test_persistent_workers_and_oversized_batches_go_the_usual_way():
    # a new epoch's iterator drops what persistent workers had in flight (a ring's first message,
    # a lease's end): such a loader hands its batches over the usual way
    loader = SlotLoader(_Clips(12), batch_size=4, capacity=4, num_workers=2, persistent_workers=True)
    assert not isinstance(loader.collate_fn, ClipSlots)
    for _ in range(3):
        next(iter(loader))  # an epoch left early
        assert [y for _, y in loader] == [(0, 1, 2), (4, 5, 6, 7), (9, 10, 11)]
    raw = torch.utils.data.DataLoader(_Clips(6), batch_size=3, num_workers=1, collate_fn=ClipSlots(capacity=2))
    assert [type(x) for x, _ in raw] == [torch.Tensor, SlotBatch]  # 3 readable clips > 2: no slot; then 4, 5


def test_batches_cross_intact_with_the_sharing_strategy_the_training_workers_set():
    from benchmarks.runtime.cpus import CpuShare

    loader = SlotLoader(_Clips(40, pathways=True), batch_size=3, capacity=3, num_workers=2,
                        worker_init_fn=CpuShare(1).worker_init())
    for x, y in loader:
        assert x[0][:, 0, 0].tolist() == [float(i) for i in y] and x[1][:, 0].tolist() == [-float(i) for i in y]


def test_slowfast_pathways_come_back_as_a_list():
    batches = list(SlotLoader(_Clips(10, pathways=True), batch_size=3, capacity=3, num_workers=2))
    (slow, fast), labels = batches[0]
    assert labels == (0, 1, 2) and slow.shape == (3, 2, 3) and fast[:, 0].tolist() == [0.0, -1.0, -2.0]
    assert [y for _, y in batches] == [(0, 1, 2), (4, 5), (6, 7), (9,)]  # 3 and 8 unreadable


def test_a_worker_sends_its_ring_once_then_slot_numbers_in_turn():
    raw = torch.utils.data.DataLoader(_Clips(40), batch_size=2, num_workers=2, collate_fn=ClipSlots(capacity=2))
    depth = 2 + SPARE_SLOTS  # the DataLoader's default prefetch factor, plus the spares
    rings, leases = {}, {}
    for m, _ in raw:
        if m is None:
            continue
        assert isinstance(m, SlotBatch)
        rings.setdefault(m.ring, []).append(m)
        leases.setdefault(m.ring, m.leases)[m.slot] = 0  # let go, as `received` does once the batch is freed
    assert len(rings) == 2  # one ring per worker
    for ring in rings.values():
        assert ring[0].slots is not None and len(ring[0].slots) == depth
        assert all(m.slots is None for m in ring[1:])  # the ring's memory crosses over once
        assert [m.slot for m in ring] == [k % depth for k in range(len(ring))]


def test_without_workers_a_batch_is_stacked_in_place():
    (x, y), = list(SlotLoader(_Clips(3), batch_size=3, capacity=3))
    assert y == (0, 1, 2) and x.shape == (3, 2, 3)
    assert list(SlotLoader([(None, 3)], batch_size=1, capacity=1)) == [(None, None)]  # no readable clip


def test_a_slot_still_lent_is_never_refilled():
    # a main process that never lets a batch go (raw messages, no `received`): once a worker
    # has lent all its slots it hands its batches over the usual way, and the lent ones stay intact
    raw = torch.utils.data.DataLoader(_Clips(40), batch_size=2, num_workers=1, collate_fn=ClipSlots(capacity=2))
    out = [(x, y) for x, y in raw if x is not None]
    depth = 2 + SPARE_SLOTS
    assert all(isinstance(x, SlotBatch) for x, _ in out[:depth])
    assert all(isinstance(x, torch.Tensor) and x[:, 0, 0].tolist() == [float(i) for i in y] for x, y in out[depth:])
    slots = out[0][0].slots
    for x, y in out[:depth]:
        assert slots[x.slot][0][:x.count, 0, 0].tolist() == [float(i) for i in y]


def test_a_gpu_loader_hands_batches_over_the_usual_way():
    # with pin_memory the DataLoader's own thread copies each batch to page-locked memory anyway
    # (on a machine without a GPU it warns and skips the pinning)
    loader = SlotLoader(_Clips(10), batch_size=4, capacity=4, num_workers=2, pin_memory=True)
    assert not isinstance(loader.collate_fn, ClipSlots)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batches = list(loader)
    assert [y for _, y in batches] == [(0, 1, 2), (4, 5, 6, 7), (9,)]
    assert batches[1][0][:, 0, 0].tolist() == [4.0, 5.0, 6.0, 7.0]
