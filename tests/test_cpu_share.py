"""How a training run shares the CPUs (benchmarks.runtime.cpus) and hands its batches over."""

import os

import pytest
import torch

from benchmarks.transfer.finetune import FinetuneConfig, cpu_share
from benchmarks.runtime.batch_slots import readable_batch
from benchmarks.runtime.cpus import WORKER_NICENESS, CpuShare


def test_the_model_gets_the_cpus_the_workers_leave():
    assert CpuShare.plan(2, cpus=2).model_threads == 1  # never none
    assert CpuShare.plan(1, cpus=2).model_threads == 1
    assert CpuShare.plan(4, cpus=16).model_threads == 12
    assert CpuShare.plan(4, threads=3, cpus=16).model_threads == 3  # the caller's choice stands
    # no workers, a GPU, or several ranks on the same CPUs: torch's own thread count
    for share in (CpuShare.plan(0, cpus=16), CpuShare.plan(2, cpus=16, device="cuda"),
                  CpuShare.plan(2, cpus=16, world_size=2)):
        assert share.model_threads == torch.get_num_threads()
    with pytest.raises(ValueError, match="at least 1"):
        CpuShare.plan(2, threads=0)


def test_applied_sets_the_threads_and_gives_the_callers_back():
    before = torch.get_num_threads()
    with CpuShare(1).applied():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_a_run_config_plans_its_share():
    config = FinetuneConfig("i3d_tiny_8x4_demo", "folders", "clips/", workers=2, threads=1)
    assert cpu_share(config) == CpuShare(1, WORKER_NICENESS)
    assert "threads" not in config.hyper_parameters()  # how fast, not what: a resume may change it


class _Probe(torch.utils.data.Dataset):
    """Each item: what the worker that made it runs with, and a clip."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return torch.full((3, 2), float(i)), (os.nice(0), torch.multiprocessing.get_sharing_strategy())


def _probe_collate(items):
    batch, _ = readable_batch([(c, 0) for c, _ in items])  # the training loader's own collate
    return batch, items[0][1]


def test_workers_decode_at_low_priority_and_hand_batches_over_by_name():
    loader = torch.utils.data.DataLoader(_Probe(), batch_size=2, num_workers=2, collate_fn=_probe_collate,
                                         worker_init_fn=CpuShare(1).worker_init())
    batches = list(loader)
    main_nice = os.nice(0)
    for k, (batch, (nice, strategy)) in enumerate(batches):
        assert nice == min(19, main_nice + WORKER_NICENESS) and strategy == "file_system"
        assert batch.is_shared() and batch[:, 0, 0].tolist() == [2.0 * k, 2.0 * k + 1]
    assert torch.multiprocessing.get_sharing_strategy() == "file_descriptor"  # the main process's own stays


def test_a_batch_holds_the_readable_clips_and_their_labels_as_ints():
    batch, labels = readable_batch([(torch.zeros(3, 2), 1), (None, 0), (torch.ones(3, 2), 4)])
    assert batch.shape == (2, 3, 2) and labels == (1, 4) and not batch.is_shared()  # no worker: a plain stack
    (slow, fast), labels = readable_batch([([torch.zeros(1), torch.zeros(2)], 0), ([torch.ones(1), torch.ones(2)], 3)])
    assert slow.tolist() == [[0.0], [1.0]] and fast.shape == (2, 2) and labels == (0, 3)
    assert readable_batch([(None, 0)]) == (None, None)
