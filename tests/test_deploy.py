"""Deployment: the 2D rewrite against the 3D operators, export round trips, manifests, --artifact."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch import nn

import zoo
from benchmarks.cli import main as zoo_main
from zoo.deploy.artifact import ArtifactError, load_artifact, manifest_path, read_manifest
from zoo.deploy.export import ExportError
from zoo.deploy.layout import PER_FRAME_MAX_FRAMES, default_layout, frames_layout
from zoo.deploy.rewrite import FrameConv, UnsupportedOperator, avg_pool3d_as_2d, max_pool3d_as_2d, mean_as_2d, rewrite_3d
from zoo.fast import example_input, fold_batch_norms

onnxruntime = pytest.importorskip("onnxruntime", reason="the deploy extra (videozoo[deploy]) is not installed")


def _random_conv3d(rng: random.Random) -> nn.Conv3d:
    groups = rng.choice([1, 2, "depthwise"])
    channels = rng.choice([2, 4, 6])
    kernel = tuple(rng.randint(1, 5) for _ in range(3))
    conv = nn.Conv3d(
        channels, channels * (2 if groups == "depthwise" else rng.choice([1, 2])) if groups != 2 else 4,
        kernel, stride=tuple(rng.randint(1, 3) for _ in range(3)), padding=tuple(rng.randint(0, k // 2 + 1) for k in kernel),
        dilation=tuple(rng.randint(1, 2) for _ in range(3)), groups=channels if groups == "depthwise" else groups,
        bias=rng.random() < 0.5,
    ) if groups != 2 else nn.Conv3d(4, 6, kernel, stride=tuple(rng.randint(1, 3) for _ in range(3)),
                                    padding=tuple(rng.randint(0, k // 2 + 1) for k in kernel),
                                    dilation=tuple(rng.randint(1, 2) for _ in range(3)), groups=2, bias=True)
    return conv


def test_any_conv3d_equals_its_frame_convolutions():
    rng = random.Random(0)
    checked = 0
    while checked < 40:
        conv = _random_conv3d(rng)
        x = torch.randn(2, conv.in_channels, rng.randint(5, 11), rng.randint(9, 14), rng.randint(9, 14))
        try:
            expected = conv(x)
        except RuntimeError:  # a kernel larger than the padded input: nn.Conv3d refuses it too
            continue
        # without the frame count (per-frame taps) and with it (the banded form where it applies)
        for count in (None, x.shape[2]):
            frames = FrameConv.from_conv3d(conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation,
                                           conv.groups, frames=count)
            actual = frames(x)
            assert actual.shape == expected.shape, conv
            torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5, msg=f"{conv} ({frames.view or 'taps'})")
        checked += 1


@pytest.mark.parametrize("per_frame", [False, True])
def test_any_stride_1_conv3d_equals_its_frames_layout_form(per_frame):
    """The frames layout: a one-video clip as (T, C, H, W), or one (1, C, H, W) tensor per frame;
    each tap reads only the frames it reaches (no padded copy), zero frames complete it, the bias
    sits on a tap reaching all."""
    rng = random.Random(1)
    checked = 0
    while checked < 30:
        kt, pad, dil, frames = rng.randint(1, 5), rng.randint(0, 3), rng.randint(1, 2), rng.randint(1, 8)
        conv = nn.Conv3d(4, 6, (kt, 3, 2), padding=(pad, 1, 0), dilation=(dil, 1, 1), groups=rng.choice([1, 2]),
                         bias=rng.random() < 0.7).eval()
        x = torch.randn(1, 4, frames, 7, 6)
        try:
            expected = conv(x)
        except RuntimeError:
            continue
        program = frames_layout(torch.export.export(conv, (x,)), (x,), per_frame=per_frame, check=False)
        assert "aten.conv3d.default" not in {str(n.target) for n in program.graph.nodes}
        actual = program.module()(x)
        assert actual.shape == expected.shape
        torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5, msg=str((kt, pad, dil, frames)))
        checked += 1


def test_frames_layout_keeps_a_block_in_frames_and_leaves_batches_alone():
    """X3D's block (pointwise, depthwise 3x3x3, squeeze-excitation, swish, shortcut) stays in
    frames from the first conversion to the last; a batch of two videos is left as it was."""
    block = zoo.create_model("efficient_x3d_xs").s2.pathway0_res0.eval()
    x = torch.randn(1, block.layers.conv_0.kernel.conv.in_channels, 4, 12, 12)
    fold_batch_norms(block, x)  # as zoo.export does first
    framed = frames_layout(torch.export.export(block, (x,)), (x,))
    ops = [str(n.target) for n in framed.graph.nodes if n.op == "call_function"]
    assert "aten.conv3d.default" not in ops and not [o for o in ops if "5d" in o or "3d" in o]
    # one clip-shaped value is left: the block's output, made a clip once at the end
    clips = [n for n in framed.graph.nodes if n.op == "call_function" and n.meta["val"].dim() == 5]
    assert len(clips) == 1 and list(clips[0].users)[0].op == "output"
    torch.testing.assert_close(framed.module()(x), block(x), atol=1e-5, rtol=1e-5)
    batch = torch.randn(2, *x.shape[1:])
    program = torch.export.export(block, (batch,))
    assert frames_layout(program, (batch,)) is program


def test_the_per_frame_layout_wires_taps_to_frames_without_copies(monkeypatch):
    """Per frame, X3D's block is 2D operators on (1, C, H, W) tensors: no slice, pad or
    concatenation of frames; the clip is split once at the start and stacked once at the end."""
    monkeypatch.setattr("zoo.deploy.layout.PER_FRAME_MIN_POSITIONS", 0)  # these frames are small: every one apart
    block = zoo.create_model("efficient_x3d_xs").s2.pathway0_res0.eval()
    x = torch.randn(1, block.layers.conv_0.kernel.conv.in_channels, 4, 12, 12)
    fold_batch_norms(block, x)
    exported = torch.export.export(block, (x,))
    per_frame = frames_layout(exported, (x,), per_frame=True)
    ops = [str(n.target) for n in per_frame.graph.nodes if n.op == "call_function"]
    assert not {o for o in ops if any(k in o for k in ("slice", "pad", "cat", "3d"))}, ops
    assert ops.count("aten.select.int") == 4 and ops.count("aten.stack.default") == 1
    shapes = {tuple(n.meta["val"].shape[2:]) for n in per_frame.graph.nodes
              if n.op == "call_function" and str(n.target) == "aten.conv2d.default"}
    assert all(n.meta["val"].shape[0] == 1 for n in per_frame.graph.nodes
               if n.op == "call_function" and str(n.target) == "aten.conv2d.default") and shapes
    torch.testing.assert_close(per_frame.module()(x), block(x), atol=1e-5, rtol=1e-5)
    # a depthwise 3x3x3 convolution of 4 frames: 3 + 4 + 3 2D convolutions (edge frames lack a tap)
    dw = [m for m in block.modules() if isinstance(m, nn.Conv3d) and m.kernel_size == (3, 3, 3)][0]
    assert len([n for n in per_frame.graph.nodes if str(n.target) == "aten.conv2d.default"
                and n.meta["val"].shape[1] == dw.out_channels and n.args[1].meta["val"].shape[1] == 1]) == 10


def test_per_frame_switches_to_one_batch_where_frames_get_small_and_writes_in_place_nowhere(monkeypatch):
    """Frames of fewer than PER_FRAME_MIN_POSITIONS positions go back to one batch (one
    concatenation, at the change); an in-place operator on frames that a concatenation along
    frames made share storage writes into neither (its out-of-place form)."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.big = nn.Conv3d(3, 4, 3, padding=1)
            self.down = nn.Conv3d(4, 4, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
            self.small = nn.Conv3d(4, 4, 3, padding=1, groups=4)

        def forward(self, x):
            y = self.small(torch.relu(self.down(torch.relu(self.big(x)))))
            twice = torch.cat([y, y], 2)
            twice.add_(1)  # into the joined frames, which are y's own
            return twice, y * 2

    monkeypatch.setattr("zoo.deploy.layout.PER_FRAME_MIN_POSITIONS", 100)
    net, x = Net().eval(), torch.randn(1, 3, 4, 16, 16)  # 256 positions, then 64 after the stride
    program = frames_layout(torch.export.export(net, (x,)), (x,), per_frame=True)
    convs = [n for n in program.graph.nodes if str(n.target) == "aten.conv2d.default"]
    assert {tuple(n.meta["val"].shape[:1]) for n in convs if n.meta["val"].shape[-1] == 16} == {(1,)}  # per frame
    assert all(n.meta["val"].shape[0] > 1 for n in convs if n.meta["val"].shape[-1] == 8)  # batches of frames
    # the change of form, and the net's own concatenation (of batches: its frames are small)
    assert [str(n.target) for n in program.graph.nodes].count("aten.cat.default") == 2
    with torch.no_grad():
        for got, expected in zip(program.module()(x), net(x)):
            torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    monkeypatch.setattr("zoo.deploy.layout.PER_FRAME_MIN_POSITIONS", 0)  # every frame apart: the joined lists share frames
    program = frames_layout(torch.export.export(net, (x,)), (x,), per_frame=True)
    assert "aten.cat.default" not in [str(n.target) for n in program.graph.nodes]
    with torch.no_grad():
        for _ in range(2):  # nothing written into the program's own tensors either
            for got, expected in zip(program.module()(x), net(x)):
                torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("per_frame", [False, True])
def test_an_in_place_write_other_readers_see_through_a_view_stays_in_the_clip(per_frame, monkeypatch):
    class WriteAfterView(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv3d(3, 4, 3, padding=1)

        def forward(self, x):
            y = self.conv(x)
            first = y[:, :, 0]  # a view of the clip, read after the write below
            y.add_(1)
            return first * 1

    monkeypatch.setattr("zoo.deploy.layout.PER_FRAME_MIN_POSITIONS", 0)
    net, x = WriteAfterView().eval(), torch.randn(1, 3, 2, 16, 16)
    program = frames_layout(torch.export.export(net, (x,)), (x,), per_frame=per_frame)  # checked inside too
    torch.testing.assert_close(program.module()(x), net(x), atol=1e-5, rtol=1e-5)
    assert "aten.add_.Tensor" in [str(n.target) for n in program.graph.nodes]  # the write, on the clip


def test_the_default_layout_is_per_frame_for_fp32_executorch_clips_of_few_frames(tmp_path):
    def program(frames, batch=1):
        return torch.export.export(nn.Conv3d(3, 4, 3, padding=1).eval(), (torch.randn(batch, 3, frames, 8, 8),))

    assert default_layout(program(PER_FRAME_MAX_FRAMES), "executorch", int8=False) == "per-frame"
    assert default_layout(program(PER_FRAME_MAX_FRAMES + 1), "executorch", int8=False) == "frames"
    assert default_layout(program(4), "executorch", int8=True) == "frames"
    assert default_layout(program(4), "onnx", int8=False) == "frames"
    assert default_layout(program(4, batch=2), "executorch", int8=False) == "frames"  # no one-video clip
    with pytest.raises(ExportError, match="unknown layout 'rows'"):
        zoo.export("i3d_tiny_8x4_demo", tmp_path / "m.pte", format="executorch", layout="rows")
    with pytest.raises(ExportError, match="a form of the 2D rewrite, which this export does not use"):
        zoo.export("i3d_tiny_8x4_demo", tmp_path / "m.onnx", layout="frames")
    assert read_manifest(zoo.export("i3d_tiny_8x4_demo", tmp_path / "m.onnx", rewrite_2d=True))["layout"] == "frames"
    assert read_manifest(zoo.export("i3d_tiny_8x4_demo", tmp_path / "3d.onnx"))["layout"] is None  # the clip stays 5-D
    path = zoo.export("i3d_tiny_8x4_demo", tmp_path / "m.onnx", pretrained=True, rewrite_2d=True, layout="per-frame")
    assert read_manifest(path)["layout"] == "per-frame" and read_manifest(path)["max_abs_diff"] < 1e-5
    # a batch of views has no one-video clip: no layout, whatever was asked
    batched = zoo.export("i3d_tiny_8x4_demo", tmp_path / "b.onnx", rewrite_2d=True, layout="per-frame", batch=2)
    assert read_manifest(batched)["layout"] is None
    pytest.importorskip("executorch", reason="the deploy extra (videozoo[deploy]) is not installed")
    assert zoo_main(["export", "i3d_tiny_8x4_demo", "--pretrained", "--format", "executorch", "--layout", "frames",
                     "--out", str(tmp_path / "m.pte")]) == 0
    assert read_manifest(tmp_path / "m.pte")["layout"] == "frames"


@pytest.mark.parametrize("conv, frames, banded", [
    (nn.Conv3d(6, 6, 3, padding=1, groups=6), 4, True),  # X3D's depthwise 3x3x3 at 4 frames
    (nn.Conv3d(6, 6, 3, stride=(1, 2, 2), padding=1, groups=6), 4, True),
    (nn.Conv3d(6, 6, (3, 3, 3), stride=(2, 1, 1), padding=(1, 1, 1), dilation=(2, 1, 1), groups=6), 6, True),
    (nn.Conv3d(6, 6, 3, padding=1, groups=6), 13, False),  # X3D-S's 13 frames: 13/3 the multiply-adds, taps
    (nn.Conv3d(6, 12, 3, padding=1, groups=3), 4, False),  # not depthwise
])
def test_depthwise_convolutions_of_few_frames_are_one_banded_conv2d(conv, frames, banded):
    """The banded form: frames folded into channels of the clip's own layout, one grouped Conv2d."""
    module = FrameConv.from_conv3d(conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups,
                                   frames=frames)
    assert (module.view == "banded") == banded
    if banded:
        assert isinstance(module.viewed, nn.Conv2d) and module.viewed.groups == conv.groups and not module.taps
        # tap k of output frame t sits at input frame t*stride + k*dilation - padding, zero elsewhere
        out_frames = (frames + 2 * conv.padding[0] - conv.dilation[0] * 2 - 1) // conv.stride[0] + 1
        band = module.viewed.weight.reshape(6, out_frames, 1, frames, 3, 3)
        for t in range(out_frames):
            for s in range(frames):
                k, rest = divmod(s - t * conv.stride[0] + conv.padding[0], conv.dilation[0])
                expected = conv.weight[:, :, k] if rest == 0 and 0 <= k < 3 else torch.zeros_like(conv.weight[:, :, 0])
                torch.testing.assert_close(band[:, t, :, s], expected)
    x = torch.randn(2, 6, frames, 9, 10)
    torch.testing.assert_close(module(x), conv(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dim, keepdim", [((2, 3, 4), True), ((2, 3, 4), False), ((-2, -1), True), ((3, 4), False),
                                          ((1, 2, 3), False), (2, True)])
def test_clip_means_take_the_4d_form_xnnpack_partitions(dim, keepdim):
    x = torch.randn(2, 5, 3, 4, 6)
    torch.testing.assert_close(mean_as_2d(x, dim, keepdim), x.mean(dim, keepdim=keepdim))
    program = torch.export.export(Mean(dim, keepdim), (x,))
    means = [n.args[0].meta["val"].dim() for n in program.graph.nodes if "mean" in str(n.target)]
    rewritten = rewrite_3d(program, (x,))
    after = [n.args[0].meta["val"].dim() for n in rewritten.graph.nodes if "mean" in str(n.target)]
    assert means == [5] and after == ([4] if set(d % 5 for d in (dim if isinstance(dim, tuple) else (dim,))) in ({2, 3, 4}, {3, 4}) else [5])


class Mean(nn.Module):
    def __init__(self, dim, keepdim):
        super().__init__()
        self.dim, self.keepdim = dim, keepdim

    def forward(self, x):
        return x.mean(self.dim, keepdim=self.keepdim)


@pytest.mark.parametrize("conv, view", [
    (nn.Conv3d(8, 16, 1, stride=(1, 2, 2)), "pointwise"),  # X3D's shortcut projection
    (nn.Conv3d(8, 8, (5, 1, 1), padding=(2, 0, 0), groups=8), "temporal"),  # X3D's stem, depthwise in time
    (nn.Conv3d(8, 16, (3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0), dilation=(2, 1, 1)), "temporal"),
    (nn.Conv3d(8, 16, (1, 3, 3), padding=(0, 1, 1)), ""),  # per frame
])
@pytest.mark.parametrize("height", [10, 9])  # an odd height cannot take the pointwise view's stride: per frame
def test_kernels_that_need_no_frame_reordering(conv, view, height):
    frames = FrameConv.from_conv3d(conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)
    assert frames.view == view
    x = torch.randn(2, 8, 7, height, 12)
    torch.testing.assert_close(frames(x), conv(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kernel, stride, padding, dilation", [
    ((1, 3, 3), (1, 2, 2), (0, 1, 1), 1), ((2, 1, 1), (2, 1, 1), 0, 1), ((3, 3, 3), (1, 2, 2), (1, 1, 1), 1),
    ((3, 2, 2), (2, 1, 1), (1, 0, 1), (2, 1, 1)),
])
def test_3d_pools_equal_their_2d_forms(kernel, stride, padding, dilation):
    x = torch.randn(2, 3, 9, 11, 10)
    torch.testing.assert_close(max_pool3d_as_2d(x, kernel, stride, padding, dilation),
                               nn.functional.max_pool3d(x, kernel, stride, padding, dilation))
    if dilation == 1:
        for include in (True, False):
            torch.testing.assert_close(avg_pool3d_as_2d(x, kernel, stride, padding, count_include_pad=include),
                                       nn.functional.avg_pool3d(x, kernel, stride, padding, count_include_pad=include))


# one entry of each family (C2D, I3D, Slow, CSN share the ResNet blocks of the demo and R(2+1)D)
FAMILIES = ["i3d_tiny_8x4_demo", "x3d_xs", "efficient_x3d_xs", "slowfast_r50", "r2plus1d_r50", "r3d_18", "s3d",
            "mvit_base_16x4"]


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_every_family_rewritten_equals_the_original(name):
    model = zoo.create_model(name).eval()
    # MViT's position embeddings and S3D's fixed head pool want their own clip size
    big = name.startswith(("mvit", "s3d"))
    x = example_input(model, frames=16 if big else 8, size=224 if big else 64)
    args = x if isinstance(x, tuple) else (x,)
    fold_batch_norms(model, x)
    exported = torch.export.export(model, args)
    framed = frames_layout(exported, args, check=False)  # export's path: the frames layout, then the rewrite
    per_frame = frames_layout(exported, args, per_frame=True, check=False)  # fp32 ExecuTorch's, for few frames
    for program in (rewrite_3d(exported, args, check=False), rewrite_3d(framed, args, check=False),
                    rewrite_3d(per_frame, args, check=False)):
        assert not [n for n in program.graph.nodes if "3d" in str(n.target)]
        with torch.no_grad():
            expected, actual = model(*args), program.module()(*args)
        assert (actual - expected).abs().max() <= 1e-4 * expected.abs().max()
    # the frames layout took the clip out of 5-D for the convolutions it could
    convs = [n for n in exported.graph.nodes if str(n.target) == "aten.conv3d.default"]
    framed_convs = [n for n in framed.graph.nodes if str(n.target) == "aten.conv3d.default"]
    assert len(framed_convs) < len(convs)


@pytest.fixture(scope="module")
def demo_videos(tmp_path_factory):
    from benchmarks.demo import videos as demo_data

    root = tmp_path_factory.mktemp("demo")
    annotations = demo_data.generate(root, {"val": demo_data.DEFAULT_SPLITS["val"]}, limit=6, progress=False)["val"]
    return root, annotations


@pytest.mark.parametrize("fmt", ["onnx", "executorch"])
def test_export_round_trip_and_artifact_evaluation(fmt, demo_videos, tmp_path, capsys):
    if fmt == "executorch":
        pytest.importorskip("executorch", reason="the deploy extra (videozoo[deploy]) is not installed")
    root, annotations = demo_videos
    first = root / annotations.read_text().split()[0]
    path = tmp_path / f"demo.{'onnx' if fmt == 'onnx' else 'pte'}"
    assert zoo_main(["export", "i3d_tiny_8x4_demo", "--pretrained", "--format", fmt, "--check-video", str(first),
                     "--out", str(path)]) == 0
    manifest = read_manifest(path)
    assert manifest["entry"] == "i3d_tiny_8x4_demo" and manifest["inputs"] == [[1, 3, 8, 32, 32]]
    assert manifest["weights"] == "published" and "random weights" not in capsys.readouterr().err
    assert manifest["max_abs_diff"] <= 1e-4 * manifest["output_scale"] and manifest["check_input"] == str(first)
    assert manifest["classes"] == zoo.classes.class_names("demo") and manifest["views"] == "5x3"
    assert manifest["rewrite_2d"] is (fmt == "executorch") and manifest["protocol"]["temporal_rule"] == "pyslowfast"
    assert manifest["layout"] == ("per-frame" if fmt == "executorch" else None)  # fp32, 8 frames
    # the harness runs the file under the same protocol: the same top-1 as the eager model
    common = ["--annotations", str(annotations), "--video-root", str(root), "--workers", "0", "--quiet", "--dataset",
              "kinetics400", "--classes", str(tmp_path / "classes.txt")]
    (tmp_path / "classes.txt").write_text("\n".join(zoo.classes.class_names("demo")) + "\n")
    assert zoo_main(["evaluate", "i3d_tiny_8x4_demo", "--pretrained", "--out", str(tmp_path / "eager"), *common]) == 0
    assert zoo_main(["evaluate", "i3d_tiny_8x4_demo", "--artifact", str(path), "--out", str(tmp_path / "art"), *common]) == 0
    eager = json.loads((tmp_path / "eager" / "metrics.json").read_text())
    exported = json.loads((tmp_path / "art" / "metrics.json").read_text())
    assert exported["metrics"]["top1"] == eager["metrics"]["top1"] and exported["videos"] == 6
    scores = [[json.loads(line)["scores"] for line in (tmp_path / d / "scores.jsonl").read_text().splitlines()]
              for d in ("eager", "art")]
    assert torch.allclose(torch.tensor(scores[0]), torch.tensor(scores[1]), atol=1e-5)
    assert json.loads((tmp_path / "art" / "config.json").read_text())["weights"].startswith(f"artifact {path.name} sha256")
    # zoo predict runs the file too (its manifest names the entry): the eager model's top classes and scores
    capsys.readouterr()
    assert zoo_main(["predict", str(first), "--artifact", str(path), "--json", "--quiet"]) == 0
    from_file = json.loads(capsys.readouterr().out)
    assert zoo_main(["predict", str(first), "--model", "i3d_tiny_8x4_demo", "--pretrained", "--json", "--quiet"]) == 0
    from_eager = json.loads(capsys.readouterr().out)
    assert [t["class"] for t in from_file["top"]] == [t["class"] for t in from_eager["top"]]
    assert torch.allclose(torch.tensor([t["score"] for t in from_file["top"]]),
                          torch.tensor([t["score"] for t in from_eager["top"]]), atol=1e-5)
    assert zoo_main(["predict", str(first), "--artifact", str(path), "--model", "x3d_xs"]) == 2
    assert "not the artifact's entry i3d_tiny_8x4_demo" in capsys.readouterr().err


def test_int8_onnx_is_calibrated_on_the_entrys_views(demo_videos, tmp_path):
    root, annotations = demo_videos
    path = tmp_path / "demo_int8.onnx"
    held_out = root / annotations.read_text().splitlines()[4].split()[0]  # not among the calibration videos
    assert zoo_main(["export", "i3d_tiny_8x4_demo", "--pretrained", "--int8", "--calibration", str(annotations),
                     "--video-root", str(root), "--dataset", "demo", "--calibration-videos", "2", "--out", str(path),
                     "--check-video", str(held_out)]) == 0
    manifest = read_manifest(path)
    assert manifest["int8"] and manifest["calibration"]["inputs"] == 2 * 15  # 2 videos x 5x3 views, one per call
    assert len(manifest["calibration"]["videos"]) == 2
    import onnx

    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # really quantized
    assert manifest["max_abs_diff"] < 0.1 * manifest["output_scale"]  # int8 error, not a broken model


def test_export_leaves_the_given_model_as_it_was(tmp_path):
    model = zoo.create_model("i3d_tiny_8x4_demo", pretrained=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    path = zoo.export(model, tmp_path / "m.onnx")
    assert read_manifest(path)["weights"] == "published"  # as zoo.create_model recorded it on the model
    after = model.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)  # BN not folded


def test_an_export_its_runtime_fails_on_leaves_the_earlier_file_in_place(tmp_path, monkeypatch):
    path = zoo.export(zoo.create_model("i3d_tiny_8x4_demo", pretrained=True), tmp_path / "m.onnx")
    before = path.read_bytes()
    retrained = zoo.create_model("i3d_tiny_8x4_demo")  # other weights: another file, which its runtime refuses

    def failing(file, fmt, threads=None):
        raise RuntimeError("the runtime refused it")

    monkeypatch.setattr("zoo.deploy.export.runner", failing)
    with pytest.raises(ExportError, match="onnx runtime failed on the exported file: the runtime refused it"), \
            pytest.warns(UserWarning, match="random weights"):
        zoo.export(retrained, path)
    assert path.read_bytes() == before and load_artifact(path).zoo_entry == "i3d_tiny_8x4_demo"  # still its manifest's
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.manifest.json"]  # no temporary left


def test_refusals_name_the_reason(tmp_path):
    with pytest.raises(ExportError, match="unknown format 'tflite'"):
        zoo.export("i3d_tiny_8x4_demo", tmp_path / "m.tflite", format="tflite")
    with pytest.raises(ExportError, match="int8 needs calibration clips"):
        zoo.export("i3d_tiny_8x4_demo", tmp_path / "m.onnx", int8=True)
    # a file named for the other runtime, refused before anything is built
    with pytest.raises(ExportError, match="m.onnx: .onnx is the onnx suffix, but the format is executorch: name it m.pte"):
        zoo.export("i3d_tiny_8x4_demo", tmp_path / "m.onnx", format="executorch")
    with pytest.raises(ExportError, match="m.pte: .pte is the executorch suffix, but the format is onnx"):
        zoo.export("i3d_tiny_8x4_demo", tmp_path / "m.pte")
    assert not list(tmp_path.iterdir())
    path = zoo.export("i3d_tiny_8x4_demo", tmp_path / "m.onnx")
    manifest = json.loads(manifest_path(path).read_text())
    assert manifest["weights"] == "random init"  # zoo.export's default: said in the manifest
    assert load_artifact(path).zoo_entry == "i3d_tiny_8x4_demo"
    path.write_bytes(path.read_bytes() + b"\0")  # the file changed after export
    with pytest.raises(ArtifactError, match="does not match its manifest"):
        load_artifact(path)
    manifest_path(path).unlink()
    with pytest.raises(ArtifactError, match="manifest m.onnx.manifest.json is missing"):
        read_manifest(path)
    assert manifest["sha256"] != ""


def test_cli_export_says_where_the_weights_came_from_and_refuses_the_other_suffix(tmp_path, capsys):
    assert zoo_main(["export", "i3d_tiny_8x4_demo", "--out", str(tmp_path / "random.onnx")]) == 0
    captured = capsys.readouterr()
    assert "note: i3d_tiny_8x4_demo has random weights" in captured.err and "weights random init" in captured.out
    checkpoint = zoo.get_entry("i3d_tiny_8x4_demo").url  # the demo checkpoint shipped with the project
    assert zoo_main(["export", "i3d_tiny_8x4_demo", "--checkpoint", checkpoint, "--out", str(tmp_path / "c.onnx")]) == 0
    assert "random weights" not in capsys.readouterr().err
    assert read_manifest(tmp_path / "c.onnx")["weights"] == checkpoint
    assert zoo_main(["export", "i3d_tiny_8x4_demo", "--pretrained", "--format", "executorch",
                     "--out", str(tmp_path / "wrong.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zoo export: wrong.onnx: .onnx is the onnx suffix") and err.count("\n") == 1
    assert not (tmp_path / "wrong.onnx").exists()


class _BoxScorer(nn.Module):
    """A detector's operator in a tiny model: RoIAlign over the clip's mean frame, as the AVA heads do."""

    zoo_entry = "slow_r50_4x16_ava"

    def forward(self, clip, boxes):
        from torchvision.ops import roi_align

        return roi_align(clip.mean(dim=2), boxes, output_size=1).flatten(1)


def test_executorch_refuses_roi_align_naming_it(tmp_path):
    pytest.importorskip("executorch", reason="the deploy extra (videozoo[deploy]) is not installed")
    with pytest.raises(ExportError, match=r"ExecuTorch has no kernel for \{'torchvision::roi_align'\}"):
        zoo.export(_BoxScorer(), tmp_path / "ava.pte", format="executorch")


def test_speed_runtime_table_and_coverage_matrix(tmp_path):
    from benchmarks.deploy.report import read_rows
    from benchmarks.perf.deploy_coverage import main as coverage_main

    import csv

    from benchmarks.deploy.report import LATENCY_COLUMNS

    elsewhere = {"name": "i3d_tiny_8x4_demo", "runtime": "onnx", "threads": "1", "median_ms": "9.0", "p90_ms": "9.5",
                 "machine": "Other CPU, 8 CPUs, torch 2.14.1"}  # the same entry measured on another machine
    with open(tmp_path / "deploy_latency.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, LATENCY_COLUMNS, restval="")
        writer.writeheader()
        writer.writerow(elsewhere)
    for _ in range(2):  # measured twice here: the second replaces the first, the other machine's row stays
        assert zoo_main(["speed", "i3d_tiny_8x4_demo", "--runtime", "eager,onnx,onnx-2d", "--runtime-threads", "1",
                         "--reps", "2", "--out", str(tmp_path)]) == 0
    rows = read_rows(tmp_path / "deploy_latency.csv")
    assert rows[0]["machine"] == elsewhere["machine"] and rows[0]["median_ms"] == "9.0"
    rows = rows[1:]
    # no reference for the demo; onnx-2d: the file of the 2D rewrite
    assert [(r["runtime"], r["threads"]) for r in rows] == [("eager", "1"), ("onnx", "1"), ("onnx-2d", "1")]
    onnx = rows[1]
    assert float(rows[2]["median_ms"]) > 0 and float(rows[2]["file_mb"]) > 0.1
    assert float(onnx["median_ms"]) > 0 and float(onnx["file_mb"]) > 0.1 and onnx["vs_eager"]
    from benchmarks.runtime.cpus import cpu_model

    assert onnx["machine"].startswith(cpu_model() + ", ") and " CPUs, torch " in onnx["machine"]
    # real-time factor: the clip's 8 x 4 frames at 30 fps over the latency (which the table rounds to
    # 0.1 ms: the factor was computed from the unrounded one, so it lies within the rounding's bounds)
    median, clip_s = float(onnx["median_ms"]), 8 * 4 / 30
    assert clip_s / ((median + 0.05) / 1e3) - 0.05 <= float(onnx["realtime_factor"])
    assert median <= 0.05 or float(onnx["realtime_factor"]) <= clip_s / ((median - 0.05) / 1e3) + 0.05
    assert coverage_main(["i3d_tiny_8x4_demo", "--formats", "onnx", "--out", str(tmp_path)]) == 0
    coverage = read_rows(tmp_path / "deploy_coverage.csv")
    assert [(r["name"], r["format"], r["status"]) for r in coverage] == [("i3d_tiny_8x4_demo", "onnx", "ok")]
    assert float(coverage[0]["relative_diff"]) < 1e-4
    report = (tmp_path / "deploy.md").read_text()
    assert "| i3d_tiny_8x4_demo | onnx " in report and "ok (" in report and (tmp_path / "deploy.csv").is_file()
    assert report.index("### Machine: Other CPU, 8 CPUs") < report.index(f"### Machine: {onnx['machine']}")


def test_coverage_rows_say_which_executorch_files_are_per_frame(tmp_path):
    """A row records the file's layout; a coverage file from before the column existed gets it
    empty (those ExecuTorch files were all in the frames layout), and the matrix says *per frame*."""
    pytest.importorskip("executorch", reason="the deploy extra (videozoo[deploy]) is not installed")
    from benchmarks.deploy.report import read_rows
    from benchmarks.perf.deploy_coverage import main as coverage_main

    (tmp_path / "deploy_coverage.csv").write_text("name,format,status,max_abs_diff,relative_diff,file_mb,export_s,reason\n"
                                                  "x3d_xs_4x12_kinetics400,executorch,ok,1e-9,1.65e-07,15.3,22.2,\n")
    assert coverage_main(["i3d_tiny_8x4_demo", "--formats", "executorch", "--out", str(tmp_path)]) == 0
    rows = read_rows(tmp_path / "deploy_coverage.csv")
    assert [(r["name"], r["status"], r["layout"]) for r in rows] == [
        ("x3d_xs_4x12_kinetics400", "ok", ""), ("i3d_tiny_8x4_demo", "ok", "per-frame")]
    report = (tmp_path / "deploy.md").read_text()
    assert re.search(r"\| x3d_xs_4x12_kinetics400 +\| ok \(1\.65e-07\) +\|", report)
    assert re.search(rf"\| i3d_tiny_8x4_demo +\| ok \({re.escape(rows[1]['relative_diff'])}, per frame\) +\|", report)


def test_graphs_the_passes_must_leave_or_refuse():
    """A clone into a 5-D memory format stays in the clip (frames have no such format); a conv3d
    whose weight is computed in the graph is left by the frames layout and refused by the rewrite."""

    class Clone(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv3d(3, 4, 1)

        def forward(self, x):
            return self.conv(x).clone(memory_format=torch.channels_last_3d)

    class Computed(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(4, 3, 3, 3, 3))

        def forward(self, x):
            return nn.functional.conv3d(x, self.weight * 2, padding=1)

    x = torch.randn(1, 3, 4, 5, 6)
    clone = Clone().eval()
    torch.testing.assert_close(frames_layout(torch.export.export(clone, (x,)), (x,)).module()(x), clone(x))
    framed = frames_layout(torch.export.export(Computed().eval(), (x,)), (x,))
    assert "aten.conv3d.default" in {str(n.target) for n in framed.graph.nodes}
    with pytest.raises(UnsupportedOperator, match="weight is computed in the graph"):
        rewrite_3d(framed, (x,))


def test_an_ava_detectors_file_is_refused_by_predict_and_evaluate(tmp_path, capsys):
    """AVA detectors export with one clip size and one box; the harness would feed other sizes,
    so loading such a file for zoo predict / zoo evaluate says why instead of failing inside."""
    from zoo.deploy.artifact import write_manifest

    path = tmp_path / "ava.onnx"
    path.write_bytes(b"not run")
    write_manifest(path, {"entry": "slow_r50_4x16_ava", "format": "onnx", "batch": 1, "output_activation": "sigmoid",
                          "inputs": [[1, 3, 4, 256, 320], [1, 5]], "input_names": ["clip", "boxes"]})
    with pytest.raises(ArtifactError, match="AVA detector's file"):
        load_artifact(path)
    assert zoo_main(["predict", str(path), "--artifact", str(path)]) == 2
    assert "run AVA detectors from their checkpoint" in capsys.readouterr().err


def test_native_log_lines_reach_the_runtime_failure_message(capfd):
    """ExecuTorch says why a file cannot load only in its C++ log (fd 2): the export quotes it."""
    import os

    from zoo.deploy.native_log import NativeLog

    with NativeLog() as log:
        os.write(2, b"[cpuinfo_utils.cpp:87] Failed to open midr file /sys/devices/system/cpu/cpu0/regs/identification/midr_el1\n")
        os.write(2, b"[XNNCompiler.cpp:664] Failed to define tensor 10 with code: xnn_status_unsupported_parameter\n")
        assert log.lines()[1] == "[XNNCompiler.cpp:664] Failed to define tensor 10 with code: xnn_status_unsupported_parameter"
    err = capfd.readouterr().err
    assert "xnn_status_unsupported_parameter" in err and "midr" not in err  # still shown, less the CPU probe's note


class _SwishBlock(nn.Module):
    """A conv, a Swish and a squeeze-excitation gate: X3D's two uses of the sigmoid."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 1)

    def forward(self, x):
        y = nn.functional.silu(self.conv(x))
        return y * torch.sigmoid(self.fc(y.mean((2, 3), keepdim=True)))


def _xnnpack_nodes(module: torch.fx.GraphModule, x: torch.Tensor, partitioner) -> Counter:
    """The XNNPACK graph's node kinds, as the delegate serializes them, for ``module`` lowered
    with ``partitioner``; one delegate must run it all."""
    import executorch.backends.xnnpack.xnnpack_preprocess as preprocess
    from executorch.exir import to_edge_transform_and_lower

    seen, serialize = Counter(), preprocess.serialize_xnnpack_binary

    def spy(graph, *args, **kwargs):
        seen.update(type(n.xnode_union).__name__ for n in graph.xnodes)
        return serialize(graph, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preprocess, "serialize_xnnpack_binary", spy)
        lowered = to_edge_transform_and_lower(torch.export.export(module, (x,)), partitioner=[partitioner])
    assert [str(n.target) for n in lowered.exported_program().graph.nodes if n.op == "call_function"] == [
        "executorch_call_delegate", "<built-in function getitem>"]  # one delegate runs it all
    return seen


def test_int8_swish_runs_in_the_xnnpack_delegate():
    pytest.importorskip("executorch", reason="the deploy extra (videozoo[deploy]) is not installed")
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from zoo.deploy.xnnpack import Int8SigmoidQuantizer, partitioner, silu_as_sigmoid_mul

    torch.manual_seed(0)
    model, x = _SwishBlock().eval(), torch.rand(1, 3, 8, 8)
    program = torch.export.export(model, (x,))
    prepared = prepare_pt2e(silu_as_sigmoid_mul(program.module()), Int8SigmoidQuantizer())
    for _ in range(4):
        prepared(torch.rand(1, 3, 8, 8))
    quantized = convert_pt2e(prepared)
    targets = [str(n.target) for n in quantized.graph.nodes if n.op == "call_function"]
    assert "aten.silu.default" not in targets and targets.count("aten.sigmoid.default") == 2
    for node in quantized.graph.nodes:
        if node.target == torch.ops.aten.sigmoid.default:  # int8 in, XNNPACK's fixed int8 range out
            assert "dequantize" in str(node.args[0].target)
            (out,) = node.users
            assert "quantize_per_tensor" in str(out.target) and out.args[1:3] == (1.0 / 256, -128)
    # 1/256 steps on [0, 1): the int8 block stays near the float one
    assert (quantized(x) - model(x)).abs().max() < 0.05 * model(x).abs().max()

    stock, ours = _xnnpack_nodes(quantized, x, XnnpackPartitioner()), _xnnpack_nodes(quantized, x, partitioner())
    assert stock["XNNSigmoid"] == ours["XNNSigmoid"] == 2
    # the stock rule takes a sigmoid in float only: a dequantize and a quantize (XNNConvert) around each
    assert stock["XNNConvert"] - ours["XNNConvert"] == 2 * 2


def test_zero_frames_are_pads_the_delegate_runs_in_int8():
    """A temporal tap's zero frames are a constant pad of the frames (no constant tensors, which
    XNNPACK transposed at every call), in the delegate in fp32 and in int8 (no dequantize and
    quantize around it), and the int8 pad pads with exact zeros."""
    pytest.importorskip("executorch", reason="the deploy extra (videozoo[deploy]) is not installed")
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from zoo.deploy.xnnpack import Int8SigmoidQuantizer, partitioner

    torch.manual_seed(0)
    conv, x = nn.Conv3d(4, 4, (3, 3, 3), padding=1, groups=4).eval(), torch.randn(1, 4, 4, 6, 6)
    framed = frames_layout(torch.export.export(conv, (x,)), (x,))
    ops = Counter(str(n.target) for n in framed.graph.nodes if n.op == "call_function")
    assert ops["aten.pad.default"] == 2 and not ops["aten.cat.default"] and not dict(framed.named_buffers())
    assert _xnnpack_nodes(framed.module(), x, partitioner())["XNNStaticConstantPad"] == 2
    prepared = prepare_pt2e(framed.module(), Int8SigmoidQuantizer())
    for _ in range(4):
        prepared(x + 0.1 * torch.randn_like(x))
    quantized = convert_pt2e(prepared)
    for node in quantized.graph.nodes:
        if node.target == torch.ops.aten.pad.default:  # int8 in and out, at the same scale
            (out,) = node.users
            assert out.args[1:3] == node.args[0].args[1:3]
    assert (quantized(x) - conv(x)).abs().max() < 0.05 * conv(x).abs().max()
    stock, ours = _xnnpack_nodes(quantized, x, XnnpackPartitioner()), _xnnpack_nodes(quantized, x, partitioner())
    assert stock["XNNStaticConstantPad"] == ours["XNNStaticConstantPad"] == 2
    assert stock["XNNConvert"] - ours["XNNConvert"] == 2 * 2  # the stock rule: float pads, converted around


class _Windows(nn.Module):
    """Video Swin's window partition and its reverse (8-D views and permutes) around a linear layer."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):  # (B, D, H, W, C), windows of 2x2x2
        b, d, h, w, c = x.shape
        y = x.view(b, d // 2, 2, h // 2, 2, w // 2, 2, c).permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(-1, 8, c)
        y = self.fc(y)
        y = y.view(b, d // 2, h // 2, w // 2, 2, 2, 2, c).permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(b, d, h, w, c)
        return y.sum(-1)


def test_tensors_of_more_than_6_dims_run_outside_the_delegate():
    """XNNPACK's tensors have at most 6 dimensions; the stock partitioner delegates an 8-D window
    partition anyway and the file fails to load (Swin's and MViTv2's coverage rows before), ours
    leaves those operators to ExecuTorch's portable kernels and the rest to XNNPACK."""
    pytest.importorskip("executorch", reason="the deploy extra (videozoo[deploy]) is not installed")
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime

    from zoo.deploy.xnnpack import partitioner

    torch.manual_seed(0)
    model, x = _Windows().eval(), torch.randn(1, 4, 4, 4, 8)

    def run(chosen):
        lowered = to_edge_transform_and_lower(torch.export.export(model, (x,)), partitioner=[chosen])
        targets = [str(n.target) for n in lowered.exported_program().graph.nodes if n.op == "call_function"]
        method = Runtime.get().load_program(lowered.to_executorch().buffer).load_method("forward")
        return targets, method.execute([x])[0]

    with pytest.raises(RuntimeError, match="Failed to load method"):
        run(XnnpackPartitioner())
    targets, out = run(partitioner())
    assert targets.count("executorch_call_delegate") == 1  # the linear layer (and the rest within 6-D)
    assert sum("permute_copy" in t for t in targets) == 2  # the 8-D permutes: portable kernels
    assert (out - model(x)).abs().max() < 1e-5


def test_importing_the_runtime_does_not_show_torchaos_enum_notice():
    """executorch imports torchao, whose enum makes torch warn its developers once per process;
    zoo.deploy drops that one notice (and only it)."""
    import subprocess
    import sys

    pytest.importorskip("executorch", reason="the deploy extra (videozoo[deploy]) is not installed")
    bare = subprocess.run([sys.executable, "-c", "import executorch.runtime"], capture_output=True, text=True).stderr
    if "KernelPreference" not in bare:
        pytest.skip("this torchao no longer logs the notice: zoo.deploy's filter and this test can go")
    code = ("import logging, zoo.deploy, executorch.runtime; "
            "logging.getLogger('torch.utils._pytree').warning('another notice')")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr
    assert "another notice" in shown and "KernelPreference" not in shown


def test_a_fine_tuned_runs_classes_and_untrained_weights_travel_into_the_file(tmp_path, capsys):
    """The class names zoo finetune leaves beside its checkpoint reach the manifest (or --classes
    does) and zoo.predict of the file; a random network or an untrained new head is warned about
    at export and again when the file predicts."""
    demo = "i3d_tiny_8x4_demo"
    clip = torch.zeros(16, 48, 64, 3, dtype=torch.uint8)
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"model_state": zoo.create_model(demo, pretrained=True, num_classes=3).state_dict()}, run / "model.pyth")
    (run / "classes.txt").write_text("jump\nwave\nzoom\n")
    assert zoo_main(["export", demo, "--checkpoint", str(run / "model.pyth"), "--out", str(tmp_path / "ft.onnx")]) == 0
    manifest = read_manifest(tmp_path / "ft.onnx")
    assert manifest["classes"] == ["jump", "wave", "zoom"]
    # which file exactly: the path as typed may be relative, or rewritten by a later run
    assert manifest["weights_file"] == str((run / "model.pyth").resolve())
    assert manifest["weights_sha256"] == hashlib.sha256((run / "model.pyth").read_bytes()).hexdigest()
    # the run folder itself as the checkpoint: its model.pyth and classes.txt
    assert zoo_main(["export", demo, "--checkpoint", str(run), "--out", str(tmp_path / "folder.onnx")]) == 0
    assert read_manifest(tmp_path / "folder.onnx")["classes"] == ["jump", "wave", "zoom"]
    result = zoo.predict(zoo.load_artifact(tmp_path / "ft.onnx"), clip, views="1x1")
    assert sorted(result.classes) == ["jump", "wave", "zoom"] and result.warnings == []
    (tmp_path / "mine.txt").write_text("a\nb\nc\n")
    assert zoo_main(["export", demo, "--checkpoint", str(run / "model.pyth"), "--classes", str(tmp_path / "mine.txt"),
                     "--out", str(tmp_path / "mine.onnx")]) == 0
    assert read_manifest(tmp_path / "mine.onnx")["classes"] == ["a", "b", "c"]
    (tmp_path / "two.txt").write_text("a\nb\n")
    capsys.readouterr()
    assert zoo_main(["export", demo, "--checkpoint", str(run / "model.pyth"), "--classes", str(tmp_path / "two.txt"),
                     "--out", str(tmp_path / "two.onnx")]) == 2
    assert "the class list given has 2 names, the model 3 outputs" in capsys.readouterr().err

    with pytest.warns(UserWarning, match=r"an untrained new head \(blocks.6.proj\)"):
        path = zoo.export(zoo.create_model(demo, pretrained=True, num_classes=3), tmp_path / "new.onnx")
    assert read_manifest(path)["untrained"] == {"what": "head", "module": "blocks.6.proj"}
    assert "is new and untrained" in zoo.predict(zoo.load_artifact(path), clip, views="1x1").warnings[-1]
    with pytest.warns(UserWarning, match="random weights"):
        path = zoo.export(demo, tmp_path / "random.onnx")
    assert "has random weights" in zoo.predict(zoo.load_artifact(path), clip, views="1x1").warnings[-1]


def test_int8_calibration_from_class_folders_takes_every_class(tmp_path, capsys):
    from benchmarks.demo.videos import VideoSpec, render_frames, write_video

    root = tmp_path / "mine"
    for label, name in enumerate(("jump", "wave", "zoom")):
        for i in range(2):
            spec = VideoSpec(label, 30, 45, seed=10 * label + i)
            write_video(root / name / f"{i}.mp4", render_frames(spec), spec.fps)
    path = tmp_path / "int8.onnx"
    assert zoo_main(["export", "i3d_tiny_8x4_demo", "--pretrained", "--int8", "--calibration", str(root), "--dataset",
                     "folders", "--calibration-videos", "4", "--out", str(path)]) == 0
    videos = read_manifest(path)["calibration"]["videos"]
    # one of each class first (the folders are read class by class), then the next round
    assert [Path(v).parent.name for v in videos] == ["jump", "wave", "zoom", "jump"]
    assert zoo_main(["export", "i3d_tiny_8x4_demo", "--pretrained", "--int8", "--calibration", str(root), "--dataset",
                     "folders", "--out", str(tmp_path / "all.onnx")]) == 0
    assert "holds 6 videos; calibrating on all of them (--calibration-videos 16)" in capsys.readouterr().err
    assert zoo_main(["export", "i3d_tiny_8x4_demo", "--pretrained", "--int8", "--calibration", str(root),
                     "--video-root", str(root), "--out", str(tmp_path / "no.onnx")]) == 2
    assert "is a folder: a folder per class needs --dataset folders" in capsys.readouterr().err


def test_a_class_list_that_is_not_the_models_own_is_refused_or_warned_about(tmp_path, capsys):
    """Another run's classes, or the right ones in another order, numbered the labels against the
    wrong outputs silently (top-1 33 instead of 92): zoo evaluate refuses them for a model that
    knows its own (a fine-tuned run's classes.txt, a manifest), zoo.predict warns."""
    from benchmarks.demo.videos import VideoSpec, render_frames, write_video

    demo = "i3d_tiny_8x4_demo"
    root = tmp_path / "val"
    names = ["jump", "wave", "zoom"]
    for label, name in enumerate(names):
        spec = VideoSpec(label, 30, 45, seed=label)
        write_video(root / name / "0.mp4", render_frames(spec), spec.fps)
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"model_state": zoo.create_model(demo, pretrained=True, num_classes=3).state_dict()}, run / "model.pyth")
    (run / "classes.txt").write_text("\n".join(names) + "\n")
    (tmp_path / "reversed.txt").write_text("\n".join(reversed(names)) + "\n")
    path = zoo.export(demo, tmp_path / "ft.onnx", checkpoint=run / "model.pyth")
    common = ["--dataset", "folders", "--annotations", str(root), "--views", "1x1", "--workers", "0", "--quiet"]
    for weights in (["--checkpoint", str(run / "model.pyth")], ["--artifact", str(path)]):
        capsys.readouterr()
        assert zoo_main(["evaluate", demo, *weights, "--classes", str(tmp_path / "reversed.txt"),
                         "--out", str(tmp_path / "bad"), *common]) == 2
        err = capsys.readouterr().err
        assert "the same names in another order, first at index 0: 'zoom' where the model outputs 'jump'" in err
        assert zoo_main(["evaluate", demo, *weights, "--classes", str(run / "classes.txt"),
                         "--out", str(tmp_path / f"ok{len(weights[1])}"), *common]) == 0
    clip = torch.zeros(16, 48, 64, 3, dtype=torch.uint8)
    warned = zoo.predict(zoo.load_artifact(path), clip, views="1x1", classes=list(reversed(names))).warnings
    assert warned == ["the class list given is not the model's own: output 0 is 'jump', the list names it 'zoom'"]
    assert zoo.predict(zoo.load_artifact(path), clip, views="1x1", classes=names).warnings == []


def test_an_optimized_model_exports_as_the_model_inside(tmp_path):
    """zoo.export(zoo.optimize(model)): the plain model inside the wrapper is exported (no
    recompiles of its compiled call), with the wrapper's record of weights."""
    plain = zoo.create_model("i3d_tiny_8x4_demo", pretrained=True)
    fast = zoo.optimize(zoo.create_model("i3d_tiny_8x4_demo", pretrained=True))
    manifest = read_manifest(zoo.export(fast, tmp_path / "fast.onnx"))
    assert manifest["weights"] == "published" and manifest["untrained"] is None
    assert manifest["max_abs_diff"] < 1e-4 * manifest["output_scale"]
    reference = read_manifest(zoo.export(plain, tmp_path / "plain.onnx"))
    assert manifest["inputs"] == reference["inputs"]
    new_head = zoo.optimize(zoo.create_model("i3d_tiny_8x4_demo", pretrained=True, num_classes=3), compile=False)
    with pytest.warns(UserWarning, match="untrained new head"):
        path = zoo.export(new_head, tmp_path / "new.onnx")
    assert read_manifest(path)["untrained"] == {"what": "head", "module": "blocks.6.proj"}


def test_calibration_takes_a_plain_list_of_videos(tmp_path):
    from benchmarks.datasets import AnnotationError
    from benchmarks.deploy.export import calibration_videos

    for name in ("a.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "list.txt").write_text("a.mp4\nb.mp4 jump\n")  # labels are not needed, nor refused
    assert calibration_videos("kinetics400", tmp_path / "list.txt", tmp_path, 16) == [str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4")]
    (tmp_path / "bad.txt").write_text("a.mp4\nmissing.mp4\n")
    with pytest.raises(AnnotationError, match="bad.txt:1: expected '<path> <class index>'"):
        calibration_videos("kinetics400", tmp_path / "bad.txt", tmp_path, 16)
