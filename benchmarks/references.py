"""What every speed measurement shares: the entries named (patterns, aliases), PyTorchVideo's
model for an entry, non-trivial BatchNorm statistics, and the peak memory of a call.

Used by ``zoo speed`` (:mod:`benchmarks.speed`), its runtime table
(:mod:`benchmarks.deploy.speed`), the perf scripts and the equivalence tests.

Example:
    >>> import torch
    >>> bn = randomize_norm_stats(torch.nn.Sequential(torch.nn.BatchNorm3d(4)))[0]
    >>> bool(bn.running_var.min() >= 0.75), int(bn.num_batches_tracked)
    (True, 1000)
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import threading

import torch
from torch import nn


class PeakMemory:
    """Peak memory growth (MB) while the ``with`` body runs: CUDA allocator peak, or sampled RSS."""

    def __init__(self, device: str):
        self.device = device
        self.peak_mb = 0.0

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self):
        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._start = torch.cuda.memory_allocated()
            return self
        self._start = self._peak = self._rss()
        self._stop = threading.Event()

        def sample():
            while not self._stop.wait(0.001):
                self._peak = max(self._peak, self._rss())

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device == "cuda":
            torch.cuda.synchronize()
            self.peak_mb = (torch.cuda.max_memory_allocated() - self._start) / 2**20
        else:
            self._stop.set()
            self._thread.join()
            self._peak = max(self._peak, self._rss())
            self.peak_mb = (self._peak - self._start) / 2**20
        return False


# --------------------------------------------------------------------------- reference models


def reference_available() -> bool:
    return importlib.util.find_spec("pytorchvideo") is not None


def build_reference(entry) -> nn.Module | None:
    """PyTorchVideo's model for ``entry`` (random weights), or None where it has none."""
    if not reference_available() or entry.dataset != "kinetics400":
        return None
    hub = importlib.import_module("pytorchvideo.models.hub")
    if entry.name == "slow_r50_4x16_kinetics400":  # the hub's slow_r50 with a 4-frame head
        create_resnet = importlib.import_module("pytorchvideo.models.resnet").create_resnet
        model = create_resnet(stem_conv_kernel_size=(1, 7, 7), head_pool_kernel_size=(4, 7, 7), model_depth=50)
    elif entry.name == "slowfast_r50_4x16_kinetics400":  # PySlowFast's SLOWFAST_4x16_R50 config
        create_slowfast = importlib.import_module("pytorchvideo.models.slowfast").create_slowfast
        model = create_slowfast(model_depth=50, slowfast_fusion_conv_kernel_size=(5, 1, 1),
                                slowfast_fusion_conv_stride=(8, 1, 1), head_pool_kernel_sizes=((4, 7, 7), (32, 7, 7)))
    else:
        names = [a for a in entry.aliases if hasattr(hub, a)]
        if not names:
            return None
        model = getattr(hub, names[0])(pretrained=False)
    return model.eval()


def randomize_norm_stats(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every batch norm non-trivial statistics and affine parameters; returns ``model``.

    Freshly initialised batch norms are the identity in eval mode, which would hide a
    misplaced norm and give BN folding nothing to do; random statistics make each one matter.
    """
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
            if module.affine:
                module.weight.data.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
                module.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)
            module.num_batches_tracked.fill_(1000)
    return model


def expand_names(patterns) -> list[str]:
    """The canonical entry names of ``zoo speed NAMES`` (with or without ``--runtime``), in order,
    without repeats: each shell-style pattern's matches, else the entry it names (an alias);
    no patterns: every Kinetics-400 entry. An unknown name raises :class:`zoo.UnknownModelError`,
    which suggests close ones.

    Example:
        >>> expand_names(["i3d_tiny*", "x3d_xs"])
        ['i3d_tiny_8x4_demo', 'x3d_xs_4x12_kinetics400']
    """
    import zoo

    names: list[str] = []
    for pattern in patterns or ["*"]:
        found = zoo.list_models(pattern, dataset=None if patterns else "kinetics400")
        names += [n for n in (found or [zoo.get_entry(pattern).name]) if n not in names]
    return names
