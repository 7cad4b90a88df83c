"""zoo.optimize: every fast path gives the plain model's outputs (fp32, within 1e-4)."""

from __future__ import annotations

import contextlib
import warnings

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import zoo
from tests.equivalence import randomize_norm_stats
from zoo.fast import FastModel, conv_bn_pairs, optimize
from zoo.host_memory import keep_freed_memory
from zoo.view_batches import forward_views

MVIT_TINY = dict(num_frames=4, crop_size=32, num_classes=10, embed_dim=16, depth=4, dim_mul={1: 2.0, 3: 2.0},
                 head_mul={1: 2.0, 3: 2.0}, q_stride={1: (1, 2, 2), 3: (1, 2, 2)}, kv_stride=(1, 4, 4))

#: One entry per family, a tiny input for it, and builder overrides that keep it small.
FAMILIES = {
    "c2d": ("c2d_r50_8x8_kinetics400", (1, 3, 4, 64, 64), {}),
    "i3d": ("i3d_r50_8x8_kinetics400", (1, 3, 4, 64, 64), {}),
    "slow": ("slow_r50_4x16_kinetics400", (1, 3, 4, 64, 64), {}),
    "slowfast": ("slowfast_r50_8x8_kinetics400", (1, 3, 8, 64, 64), {}),
    "csn": ("csn_r101_32x2_kinetics400", (1, 3, 4, 64, 64), {}),
    "r2plus1d": ("r2plus1d_r50_16x4_kinetics400", (1, 3, 4, 64, 64), {}),
    "x3d": ("x3d_xs_4x12_kinetics400", (2, 3, 4, 64, 64), {}),
    "mvit": ("mvit_b_16x4_kinetics400", (2, 3, 4, 32, 32), MVIT_TINY),
    "detection": ("slow_r50_4x16_ava", (2, 3, 4, 64, 64), {}),
    "demo": ("i3d_tiny_8x4_demo", (2, 3, 8, 32, 32), {}),
}


def _input(name: str, shape):
    entry = zoo.get_entry(name)
    gen = torch.Generator().manual_seed(1)
    clip = torch.randn(*shape, generator=gen)
    if entry.arch == "slowfast":
        clip = [clip[:, :, :: entry.alpha].contiguous(), clip]
    if entry.dataset == "ava":
        return (clip, torch.tensor([[0.0, 4, 4, 60, 60], [1.0, 10.5, 3, 40, 50]]))
    return clip


def _logits_only(model: nn.Module) -> nn.Module:
    """Drop the heads' softmax/sigmoid: near-uniform softmax outputs would hide differences."""
    for module in model.modules():
        if isinstance(getattr(module, "activation", None), nn.Softmax | nn.Sigmoid):
            module.activation = nn.Identity()
    return model


def _pair(name: str, overrides: dict):
    torch.manual_seed(0)
    plain = _logits_only(randomize_norm_stats(zoo.create_model(name, **overrides))).eval()
    other = _logits_only(zoo.create_model(name, **overrides)).eval()
    other.load_state_dict(plain.state_dict())
    return plain, other


def _run(model, x):
    with torch.no_grad():
        return model(*x) if isinstance(x, tuple) else model(x)


def _bn_count(model: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


#: channels_last is checked on a few families only: every family costs seconds on a busy CPU.
CASES = [(f, False) for f in sorted(FAMILIES)] + [(f, True) for f in ("slowfast", "x3d", "mvit", "detection")]


@pytest.mark.parametrize(("family", "channels_last"), CASES, ids=[f"{f}-{'cl' if c else 'ncdhw'}" for f, c in CASES])
def test_fast_paths_match_plain_model(family, channels_last):
    name, shape, overrides = FAMILIES[family]
    plain, model = _pair(name, overrides)
    x = _input(name, shape)
    expected = _run(plain, x)
    assert expected.abs().max() > 1e-2  # logits, not a squeezed distribution
    had_bn = _bn_count(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fast path that had to be undone warns: fail on it
        fast = optimize(model, x, fold_bn=True, channels_last=channels_last, compile=False)
    actual = _run(fast, x)
    assert actual.shape == expected.shape
    assert (actual - expected).abs().max().item() <= 1e-4
    if had_bn:
        # every batch norm of these families follows a convolution: all are folded
        assert "fold_bn" in fast.fast_paths and _bn_count(fast) == 0
    assert ("channels_last" in fast.fast_paths) == channels_last


def test_folding_is_exact_arithmetic():
    conv = nn.Conv3d(3, 5, (3, 3, 3), padding=1, groups=1, bias=True)
    bn = randomize_norm_stats(nn.Sequential(nn.BatchNorm3d(5)), seed=3)[0].eval()
    net = nn.Sequential(conv, bn).eval()
    x = torch.randn(2, 3, 4, 8, 8)
    expected = _run(net, x)
    assert conv_bn_pairs(net, x) == [("0", "1")]
    fast = optimize(net, x, compile=False)
    assert isinstance(fast.module[1], nn.Identity)
    torch.testing.assert_close(_run(fast, x), expected, atol=1e-5, rtol=1e-5)


def test_bn_not_after_a_conv_is_kept():
    # BN reading a ReLU's output (not a convolution's) cannot be folded
    net = nn.Sequential(nn.Conv3d(3, 4, 1), nn.ReLU(), nn.BatchNorm3d(4)).eval()
    randomize_norm_stats(net)
    x = torch.randn(1, 3, 2, 4, 4)
    expected = _run(net, x)
    fast = optimize(net, x, compile=False)
    assert isinstance(fast.module[2], nn.BatchNorm3d) and "fold_bn" not in fast.fast_paths
    torch.testing.assert_close(_run(fast, x), expected)


def test_compile_matches_plain_model():
    name, shape, overrides = FAMILIES["demo"]
    plain, model = _pair(name, overrides)
    x = _input(name, shape)
    fast = optimize(model, x, compile=True)
    kept = ["host_memory"] if keep_freed_memory() else []  # glibc only
    assert fast.fast_paths == ["fold_bn", *kept, "compile"]
    assert (_run(fast, x) - _run(plain, x)).abs().max().item() <= 1e-4


def test_compile_failure_falls_back_to_eager(monkeypatch):
    name, shape, overrides = FAMILIES["demo"]
    plain, model = _pair(name, overrides)
    x = _input(name, shape)

    def broken(*args, **kwargs):
        def fails(*a, **k):
            raise RuntimeError("no C++ compiler")

        return fails

    monkeypatch.setattr(torch, "compile", broken)
    with pytest.warns(UserWarning, match="no C\\+\\+ compiler"):
        fast = optimize(model, x, compile=True)
    assert fast.compiled is None and "compile" not in fast.fast_paths
    assert (_run(fast, x) - _run(plain, x)).abs().max().item() <= 1e-4


def test_create_model_fast_and_optimize_agree():
    torch.manual_seed(0)
    fast = zoo.create_model("i3d_tiny_8x4_demo", fast=True)
    assert isinstance(fast, FastModel) and "fold_bn" in fast.fast_paths
    assert fast.zoo_entry == "i3d_tiny_8x4_demo"


def test_mvit_attention_runs_through_sdpa(monkeypatch):
    calls = []
    real = F.scaled_dot_product_attention

    def counting(*args, **kwargs):
        calls.append(args[0].shape)
        return real(*args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", counting)
    model = zoo.create_model("mvit_b_16x4_kinetics400", **MVIT_TINY)
    _run(model, torch.randn(1, 3, 4, 32, 32))
    assert len(calls) == MVIT_TINY["depth"]  # one fused attention per block


def test_forward_views_batches_across_videos():
    name, shape, overrides = FAMILIES["slowfast"]
    plain, _ = _pair(name, overrides)
    videos = [_input(name, (n, 3, 8, 64, 64)) for n in (3, 2)]
    outs = forward_views(plain, videos, batch=4)
    assert [o.shape[0] for o in outs] == [3, 2]
    for out, views in zip(outs, videos, strict=True):
        assert (out - _run(plain, views)).abs().max().item() <= 1e-4


def test_bad_dtype_is_refused():
    with pytest.raises(ValueError, match="dtype"):
        optimize(nn.Conv3d(1, 1, 1), torch.zeros(1, 1, 1, 1, 1), dtype="int8")


def test_evaluate_fast_gives_the_plain_scores(tmp_path):
    """``zoo evaluate --fast`` (folded, compiled) scores every video as the plain model does."""
    from benchmarks.datasets import read_path_label_list
    from benchmarks.evaluate import evaluate, read_scores
    from tests.videos import write_colour_dataset

    annotations = write_colour_dataset(tmp_path / "videos", [(0, 0), (2, 1)])
    dataset = read_path_label_list(annotations, tmp_path / "videos", name="colours")

    def factory(entry):
        torch.manual_seed(0)
        return randomize_norm_stats(zoo.create_model(entry.name))

    scores = {}
    for fast in (False, True):
        out = tmp_path / f"fast_{fast}"
        evaluate("i3d_tiny_8x4_demo", dataset, out, model_factory=factory, views="2x3", progress=False, log=None, fast=fast)
        scores[fast] = {k: torch.tensor(r["scores"]) for k, r in read_scores(out / "scores.jsonl").items()}
    assert scores[True].keys() == scores[False].keys() and len(scores[True]) == 2
    for key, plain in scores[False].items():
        assert (scores[True][key] - plain).abs().max().item() <= 1e-4


class _FakeCapture:
    """Stand-ins for torch.cuda's stream and graph calls, so that CUDAGraphs' own logic (static
    buffers, copy in, replay, clone out, one graph per shape) runs on the CPU. A "graph" records
    the calls made while it captures and re-runs them on its static tensors when replayed."""

    def __init__(self, monkeypatch):
        self.capturing = None
        self.captures = 0
        fake = self

        class Stream:
            def wait_stream(self, other):
                pass

        class Graph:
            def __init__(self):
                self.calls = []

            def replay(self):
                for fn, args, out in self.calls:
                    out.copy_(fn(*args))

        class capture:  # noqa: N801 - mirrors torch.cuda.graph
            def __init__(self, graph):
                self.graph = graph

            def __enter__(self):
                fake.capturing = self.graph
                fake.captures += 1

            def __exit__(self, *exc):
                fake.capturing = None

        monkeypatch.setattr(torch.cuda, "Stream", Stream)
        monkeypatch.setattr(torch.cuda, "current_stream", lambda: Stream())
        monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
        monkeypatch.setattr(torch.cuda, "CUDAGraph", Graph)
        monkeypatch.setattr(torch.cuda, "graph", capture)

    def recorded(self, fn):
        def run(*args):
            out = fn(*args)
            if self.capturing is not None:
                self.capturing.calls.append((fn, args, out))
            return out

        return run


def test_cuda_graph_runner_replays_fresh_inputs(monkeypatch):
    from zoo.fast import CUDAGraphs

    fake = _FakeCapture(monkeypatch)
    name, shape, overrides = FAMILIES["slowfast"]
    plain, _ = _pair(name, overrides)
    net = fake.recorded(lambda x: plain(x))
    runner = CUDAGraphs(lambda x: net(list(x)), max_graphs=1)
    with torch.no_grad():
        first, second = _input(name, shape), [t + 0.5 for t in _input(name, shape)]
        out1 = runner(first)
        out2 = runner(second)  # same shapes: replayed, not captured again
        assert fake.captures == 1 and len(runner.graphs) == 1
        torch.testing.assert_close(out2, plain(list(second)))
        torch.testing.assert_close(out1, plain(list(first)))  # a clone: the next replay did not overwrite it
        assert out2.data_ptr() != runner.graphs[next(iter(runner.graphs))][2].data_ptr()
        small = [t[:, :, :, :32, :32] for t in _input(name, shape)]
        out3 = runner(small)  # a new shape: a second capture, and the first graph dropped (max_graphs=1)
        assert fake.captures == 2 and len(runner.graphs) == 1
        torch.testing.assert_close(out3, plain(list(small)))


def test_failed_cuda_graph_capture_falls_back_to_eager():
    from zoo.fast import CUDAGraphs

    name, shape, overrides = FAMILIES["demo"]
    plain, model = _pair(name, overrides)
    x = _input(name, shape)
    fast = optimize(model, x, compile=False, cuda_graph=True)  # a CPU model: never captured
    assert "cuda_graph" not in fast.fast_paths and fast.graphs is None

    attempts = []

    def no_capture(*args):
        attempts.append(1)
        raise RuntimeError("operation not permitted when stream is capturing")

    fast.graphs = CUDAGraphs(fast._eager, watch=fast.module)
    fast.graphs.capture = no_capture
    with pytest.warns(UserWarning, match="CUDA graph capture failed"):
        out = _run(fast, x)
    assert (out - _run(plain, x)).abs().max().item() <= 1e-4
    out = _run(fast, x)  # that shape now runs eagerly, without another capture attempt
    assert attempts == [1] and (out - _run(plain, x)).abs().max().item() <= 1e-4


def test_cuda_graphs_are_dropped_when_the_weights_move(monkeypatch):
    from zoo.fast import CUDAGraphs

    fake = _FakeCapture(monkeypatch)
    net = nn.Conv3d(3, 2, 1).eval()
    runner = CUDAGraphs(fake.recorded(lambda x: net(x)), watch=net)
    x = torch.randn(1, 3, 2, 4, 4)
    with torch.no_grad():
        runner(x)
        net.weight.data = net.weight.data.clone() * 2  # new storage, as .to() or a memory format change makes
        out = runner(x)
        assert fake.captures == 2
        torch.testing.assert_close(out, net(x))


@pytest.mark.parametrize(("name", "overrides", "expected"), [
    ("slow_r50_4x16_kinetics400", {}, {"fp32": False, "bf16": True}),
    ("x3d_xs_4x12_kinetics400", {}, {"fp32": False, "bf16": False}),  # depthwise convolutions
    ("csn_r101_32x2_kinetics400", {}, {"fp32": False, "bf16": False}),
    ("mvit_b_16x4_kinetics400", MVIT_TINY, {"fp32": False, "bf16": False}),  # grouped pooling convolutions
])
def test_gpu_channels_last_rule(name, overrides, expected):
    from zoo.fast import channels_last_pays

    model = zoo.create_model(name, **overrides)
    assert {d: channels_last_pays(model, d) for d in expected} == expected
