"""3D convolutions and pools as 2D ones, for runtimes without 3D kernels (ExecuTorch's XNNPACK).

XNNPACK, the CPU backend of ExecuTorch, partitions 1D/2D convolutions only, and ExecuTorch's
portable kernels refuse 5-D inputs ("Expect input tensor to be 3-D or 4-D"), so a video model
exported as it is cannot run there. PyTorchVideo's accelerator rewrote five hand-written
patterns of its own EfficientX3D; this rewrite works on the exported graph of any model, so
every family of the zoo goes through it:

- a 3D convolution (any kernel, stride, padding, dilation, groups) is a 2D convolution of each
  frame per temporal tap, the taps summed (:class:`FrameConv`; a 1x1x1 or 1xKxK kernel is one
  2D convolution over all frames at once, as a batch). Three forms need no frame reordering,
  the clip's memory viewed as an image: 1x1x1 and temporal-only kx1x1 kernels, and a depthwise
  convolution of few frames as one grouped 2D convolution with frames folded into channels
  (the "banded" form: X3D's 3x3x3 depthwise convolutions);
- a mean over a clip's frames and positions is a mean of a 4-D view (XNNPACK partitions no
  5-D mean: squeeze-excitation blocks otherwise fall back to ExecuTorch's portable kernels);
- 3D max/average pooling is 2D pooling of each frame, then the same reduction over temporal
  windows (both are separable: a window is a box); adaptive average pooling to one position is
  a mean.

Each replacement is checked numerically against the operation it replaces
(:func:`rewrite_3d`). BatchNorm is folded into the convolutions before export
(:func:`zoo.fast.fold_batch_norms`) and swish is ``nn.SiLU`` in our builders, one operator.

Example:
    >>> import torch
    >>> from zoo.deploy.rewrite import FrameConv
    >>> conv = torch.nn.Conv3d(4, 6, (3, 3, 3), stride=(2, 1, 2), padding=(1, 0, 1), dilation=(1, 2, 1), groups=2)
    >>> x = torch.randn(2, 4, 7, 9, 9)
    >>> frames = FrameConv.from_conv3d(conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)
    >>> bool((frames(x) - conv(x)).abs().max() < 1e-5)
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

#: The 3D operators of an exported (training IR) graph that the rewrite replaces.
REPLACED_OPS = ("aten.conv3d.default", "aten.max_pool3d.default", "aten.avg_pool3d.default",
                "aten.adaptive_avg_pool3d.default")


class UnsupportedOperator(ValueError):
    """A 3D operation the rewrite cannot express in 2D; the message names it and why."""


def as_triple(value, default: int) -> tuple[int, int, int]:
    """A 3D operator's size argument (an int, one or three values, or empty for ``default``) as three ints."""
    if value is None or (isinstance(value, Sequence) and len(value) == 0):
        return (default,) * 3
    if isinstance(value, int):
        return (value,) * 3
    value = tuple(int(v) for v in value)
    return value * 3 if len(value) == 1 else value


def _frames(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, T, H, W)`` -> ``(B*T, C, H, W)``: every frame an image of the batch."""
    b, c, t, h, w = x.shape
    return x.transpose(1, 2).reshape(b * t, c, h, w)


def _clip(y: torch.Tensor, batch: int) -> torch.Tensor:
    """``(B*T, C, H, W)`` -> ``(B, C, T, H, W)``."""
    bt, c, h, w = y.shape
    return y.reshape(batch, bt // batch, c, h, w).transpose(1, 2)


def _window_count(length: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (length + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _pad_frames(x: torch.Tensor, padding: int, value: float = 0.0) -> torch.Tensor:
    """``padding`` frames of ``value`` before and after the clip, by concatenation: XNNPACK
    refuses a quantized 5-D constant pad ("StaticConstantPad ... invalid_parameter")."""
    if not padding:
        return x
    edge = torch.full((x.shape[0], x.shape[1], padding, *x.shape[3:]), value, dtype=x.dtype, device=x.device)
    return torch.cat([edge, x, edge], dim=2)


def _temporal_windows(y: torch.Tensor, kernel: int, stride: int, dilation: int, count: int) -> list[torch.Tensor]:
    """The ``kernel`` taps of each temporal window: tap ``j`` of window ``t`` is frame ``t*stride + j*dilation``."""
    return [y[:, :, j * dilation: j * dilation + (count - 1) * stride + 1: stride] for j in range(kernel)]


class FrameConv(nn.Module):
    """A 3D convolution as 2D convolutions of each frame, one per temporal tap, summed.

    Tap ``k`` (weight ``w[:, :, k]``) of output frame ``t`` sees input frame
    ``t * stride_t + k * dilation_t - padding_t`` (zeros outside the clip), as ``nn.Conv3d``.
    Two common kernels need no frame reordering at all (the ``(B, C, T, H, W)`` tensor is
    viewed as an image): a 1x1x1 kernel is a 1x1 convolution of ``(B, C, T*H, W)``, and a
    temporal-only ``kx1x1`` kernel a ``kx1`` convolution of ``(B, C, T, H*W)``.
    """

    def __init__(self, taps: list[nn.Conv2d], stride_t: int, padding_t: int, dilation_t: int,
                 viewed: nn.Conv2d | None = None, view: str = ""):
        super().__init__()
        self.taps = nn.ModuleList(taps)
        self.stride_t, self.padding_t, self.dilation_t = stride_t, padding_t, dilation_t
        self.viewed, self.view = viewed, view  # "pointwise", "temporal" or "banded": the reorder-free forms

    @classmethod
    def from_conv3d(cls, weight: torch.Tensor, bias: torch.Tensor | None, stride, padding, dilation, groups: int,
                    frames: int | None = None) -> FrameConv:
        """From a 3D convolution's weight ``(out, in/groups, kT, kH, kW)`` and its settings;
        ``frames``: the input's frame count, where known (it allows the banded form)."""
        if isinstance(padding, str):
            raise UnsupportedOperator(f"conv3d with padding={padding!r}: give the padding as numbers")
        stride, padding, dilation = as_triple(stride, 1), as_triple(padding, 0), as_triple(dilation, 1)
        out_channels, in_per_group, kernel_t = weight.shape[:3]
        if frames and kernel_t > 1 and in_per_group == 1 and frames <= BANDED_MAX_FRAME_RATIO * kernel_t:
            banded = _banded_conv2d(weight, bias, stride, padding, dilation, groups, frames)
            module = cls([], stride[0], padding[0], dilation[0], banded, "banded")
            module.out_channels = out_channels
            return module
        taps = tap_convs(weight, bias, stride, padding, dilation, groups)
        viewed, view = None, ""
        spatial_point = tuple(weight.shape[3:]) == (1, 1) and padding[1:] == (0, 0)
        if spatial_point and kernel_t == 1 and padding[0] == 0 and stride[0] == 1:
            viewed, view = taps[0], "pointwise"
        elif spatial_point and stride[1:] == (1, 1):
            viewed = nn.Conv2d(in_per_group * groups, out_channels, (kernel_t, 1), stride=(stride[0], 1),
                               padding=(padding[0], 0), dilation=(dilation[0], 1), groups=groups, bias=bias is not None)
            with torch.no_grad():
                viewed.weight.copy_(weight[:, :, :, :, 0])
                if bias is not None:
                    viewed.bias.copy_(bias)
            view = "temporal"
        return cls(taps, stride[0], padding[0], dilation[0], viewed, view)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, frames, height, width = x.shape
        if self.view == "banded":
            y = self.viewed(x.reshape(batch, channels * frames, height, width))
            return y.reshape(batch, self.out_channels, -1, y.shape[-2], y.shape[-1])
        if self.view == "temporal":
            y = self.viewed(x.reshape(batch, channels, frames, height * width))
            return y.reshape(batch, y.shape[1], y.shape[2], height, width)
        if self.view == "pointwise":
            sh, sw = self.viewed.stride
            if height % sh == 0:  # rows t*H + h, every sh-th: every sh-th row of each frame
                y = self.viewed(x.reshape(batch, channels, frames * height, width))
                return y.reshape(batch, y.shape[1], frames, height // sh, y.shape[-1])
        x = _pad_frames(x, self.padding_t)
        count = _window_count(x.shape[2], len(self.taps), self.stride_t, 0, self.dilation_t)
        if len(self.taps) == 1 and self.stride_t == 1:
            return _clip(self.taps[0](_frames(x)), batch)  # every frame at once: one 2D convolution
        out = None
        for conv, frames_k in zip(self.taps, _temporal_windows(x, len(self.taps), self.stride_t, self.dilation_t, count)):
            y = conv(_frames(frames_k))
            out = y if out is None else out + y
        return _clip(out, batch)



def tap_convs(weight: torch.Tensor, bias: torch.Tensor | None, stride, padding, dilation, groups: int) -> list[nn.Conv2d]:
    """A 3D convolution's temporal taps as 2D convolutions of a frame: tap ``k`` has the weight
    ``weight[:, :, k]`` and the convolution's spatial stride, padding, dilation and groups; the
    bias (if any) goes to tap 0, so the taps' sum adds it once. ``stride``/``padding``/``dilation``:
    three values each (:func:`as_triple`)."""
    out_channels, in_per_group, kernel_t = weight.shape[:3]
    taps = []
    for k in range(kernel_t):
        conv = nn.Conv2d(in_per_group * groups, out_channels, tuple(weight.shape[3:]), stride=stride[1:],
                         padding=padding[1:], dilation=dilation[1:], groups=groups, bias=bias is not None and k == 0)
        with torch.no_grad():
            conv.weight.copy_(weight[:, :, k])
            if conv.bias is not None:
                conv.bias.copy_(bias)
        taps.append(conv)
    return taps


#: The banded form (below) costs ``frames / kT`` times a depthwise convolution's multiply-adds;
#: it is used up to this ratio, where dropping the per-frame transposes still pays (X3D's 3x3x3
#: depthwise convolutions at 4 frames: 4/3).
BANDED_MAX_FRAME_RATIO = 2


def _banded_conv2d(weight, bias, stride, padding, dilation, groups: int, frames: int) -> nn.Conv2d:
    """A 3D convolution as one 2D convolution of ``(B, C*T, H, W)``, the clip's own memory layout.

    Frames become channels: input channel ``c*T + s`` is frame ``s`` of channel ``c``, output
    channel ``o*T' + t`` frame ``t`` of channel ``o``, and the weight from input frame ``s`` to
    output frame ``t`` is tap ``k`` where ``s = t*stride + k*dilation - padding`` (zero where no
    tap reaches, which is also the temporal zero padding). Each group's channels stay contiguous,
    so ``groups`` carries over. No frame is reordered, at ``frames / kT`` times the multiply-adds.
    """
    out_channels, in_per_group, kernel_t = weight.shape[:3]
    out_frames = _window_count(frames, kernel_t, stride[0], padding[0], dilation[0])
    band = weight.new_zeros(out_channels, out_frames, in_per_group, frames, *weight.shape[3:])
    for t in range(out_frames):
        for k in range(kernel_t):
            s = t * stride[0] + k * dilation[0] - padding[0]
            if 0 <= s < frames:
                band[:, t, :, s] = weight[:, :, k]
    conv = nn.Conv2d(in_per_group * groups * frames, out_channels * out_frames, tuple(weight.shape[3:]),
                     stride=stride[1:], padding=padding[1:], dilation=dilation[1:], groups=groups,
                     bias=bias is not None)
    with torch.no_grad():
        conv.weight.copy_(band.reshape(out_channels * out_frames, in_per_group * frames, *weight.shape[3:]))
        if bias is not None:
            conv.bias.copy_(bias.repeat_interleave(out_frames))
    return conv


def max_pool3d_as_2d(x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    """``F.max_pool3d`` as 2D max pooling of each frame, then the max over temporal windows."""
    kernel = as_triple(kernel_size, 1)
    stride = as_triple(stride, 0) if stride not in ((), [], None) else kernel
    padding, dilation = as_triple(padding, 0), as_triple(dilation, 1)
    if ceil_mode:
        raise UnsupportedOperator("max_pool3d with ceil_mode=True: the windows past the end are not rewritten")
    batch = x.shape[0]
    y = _clip(F.max_pool2d(_frames(x), kernel[1:], stride[1:], padding[1:], dilation[1:]), batch)
    if kernel[0] == 1 and stride[0] == 1:
        return y
    y = _pad_frames(y, padding[0], float("-inf"))
    count = _window_count(y.shape[2], kernel[0], stride[0], 0, dilation[0])
    taps = _temporal_windows(y, kernel[0], stride[0], dilation[0], count)
    out = taps[0]
    for tap in taps[1:]:
        out = torch.maximum(out, tap)
    return out


def avg_pool3d_as_2d(x, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
                     divisor_override=None):
    """``F.avg_pool3d`` as 2D average pooling of each frame, then the mean over temporal windows.

    Separable: a window is a box, so its count of valid positions is the product of the
    temporal and the spatial counts, with or without the padding counted.
    """
    kernel = as_triple(kernel_size, 1)
    stride = as_triple(stride, 0) if stride not in ((), [], None) else kernel
    padding = as_triple(padding, 0)
    if ceil_mode or divisor_override:
        raise UnsupportedOperator("avg_pool3d with ceil_mode or divisor_override is not rewritten")
    batch = x.shape[0]
    y = _clip(F.avg_pool2d(_frames(x), kernel[1:], stride[1:], padding[1:], count_include_pad=count_include_pad), batch)
    if kernel[0] == 1 and stride[0] == 1:
        return y
    length = y.shape[2]
    y = _pad_frames(y, padding[0])
    count = _window_count(y.shape[2], kernel[0], stride[0], 0, 1)
    total = sum(_temporal_windows(y, kernel[0], stride[0], 1, count))
    if count_include_pad or not padding[0]:
        return total / kernel[0]
    starts = [t * stride[0] - padding[0] for t in range(count)]  # valid frames of each window: a constant per window
    valid = torch.tensor([min(s + kernel[0], length) - max(s, 0) for s in starts], dtype=y.dtype)
    return total / valid.view(1, 1, -1, 1, 1)


def adaptive_avg_pool3d_as_mean(x, output_size):
    """``F.adaptive_avg_pool3d`` to one position: the mean over frames and positions."""
    if tuple(as_triple(output_size, 1)) != (1, 1, 1):
        raise UnsupportedOperator(f"adaptive_avg_pool3d to {tuple(output_size)}: only to one position is rewritten")
    return mean_as_2d(x, (2, 3, 4), keepdim=True)


def mean_as_2d(x, dim=None, keepdim=False, *, dtype=None):
    """``x.mean(dim)`` of a clip over its frames and positions (or positions alone) as a mean of a
    4-D view over its last two dimensions, the only mean XNNPACK takes: a 5-D mean falls
    outside its partitions (every squeeze-excitation block of X3D then ran on ExecuTorch's
    portable kernel and cut the graph in two). Any other mean is left as it was."""
    if x.dim() != 5 or dim is None or dtype is not None:
        return torch.mean(x, dim, keepdim, dtype=dtype)
    dims = {d % 5 for d in ([dim] if isinstance(dim, int) else dim)}
    b, c, t, h, w = x.shape
    if dims == {2, 3, 4}:
        y = x.reshape(b, c, t, h * w).mean((2, 3), keepdim=True)
        return y.reshape(b, c, 1, 1, 1) if keepdim else y.reshape(b, c)
    if dims == {3, 4}:
        y = x.reshape(b, c * t, h, w).mean((2, 3), keepdim=True)
        return y.reshape(b, c, t, 1, 1) if keepdim else y.reshape(b, c, t)
    return torch.mean(x, dim, keepdim)


#: ``aten.conv3d.default``'s arguments in order (the exported node may give some as keywords).
CONV3D_ARGS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")

#: Operators kept but given a 4-D form that XNNPACK partitions (``mean_as_2d``).
VIEWED_OPS = ("aten.mean.dim",)

_FUNCTIONS = {
    "aten.mean.dim": mean_as_2d,
    "aten.max_pool3d.default": max_pool3d_as_2d,
    "aten.avg_pool3d.default": avg_pool3d_as_2d,
    "aten.adaptive_avg_pool3d.default": adaptive_avg_pool3d_as_mean,
}


def module_attribute(module: nn.Module, target: str) -> torch.Tensor:
    """The tensor a ``get_attr`` node names (``"block.conv.weight"``) in ``module``."""
    for part in target.split("."):
        module = getattr(module, part)
    return module


def _frames_of(node) -> int | None:
    """The frame count of a 5-D input node, from the exporter's shape metadata (None if unknown or symbolic)."""
    value = getattr(node, "meta", {}).get("val")
    shape = getattr(value, "shape", None)
    if shape is None or len(shape) != 5:
        return None
    return shape[2] if isinstance(shape[2], int) else None


def rewrite_3d(program: torch.export.ExportedProgram, example: tuple, *, check: bool = True,
               atol: float = 1e-4) -> torch.export.ExportedProgram:
    """``program`` (from ``torch.export.export``) with every 3D convolution and pool in 2D.

    The rewritten graph's output is checked on ``example`` against the original's (max
    difference within ``atol`` of the output's scale; each replacement alone is tested against
    the operator it replaces in ``tests/test_deploy.py``), and the graph is exported again.
    Returns the new program; raises :class:`UnsupportedOperator` naming any 3D operator left.
    """
    module = program.module()
    graph = module.graph
    replaced = 0
    for node in list(graph.nodes):
        name = str(node.target)
        if node.op != "call_function" or name not in REPLACED_OPS + VIEWED_OPS:
            continue
        if name == "aten.conv3d.default":
            args = dict(zip(CONV3D_ARGS, node.args)) | dict(node.kwargs)
            bias = args.get("bias")
            if any(t is not None and getattr(t, "op", None) != "get_attr" for t in (args["weight"], bias)):
                raise UnsupportedOperator(f"conv3d {node.name}: its weight is computed in the graph, not a parameter; "
                                          "the rewrite needs the weight's values")
            replacement = FrameConv.from_conv3d(
                module_attribute(module, args["weight"].target).detach(),
                None if bias is None else module_attribute(module, bias.target).detach(),
                args.get("stride"), args.get("padding", 0), args.get("dilation"), args.get("groups", 1) or 1,
                frames=_frames_of(args["input"]),
            )
            submodule = f"frame_conv_{replaced}"
            module.add_submodule(submodule, replacement)
            with graph.inserting_before(node):
                new = graph.call_module(submodule, (args["input"],))
        else:
            with graph.inserting_before(node):
                new = graph.call_function(_FUNCTIONS[name], node.args, node.kwargs)
        node.replace_all_uses_with(new)
        graph.erase_node(node)
        replaced += 1
    graph.lint()
    module.recompile()
    if check and replaced:
        check_outputs(program, module, example, atol)
    rewritten = torch.export.export(module, example)
    left = sorted({str(n.target) for n in rewritten.graph.nodes if n.op == "call_function" and "3d" in str(n.target)})
    if left:
        raise UnsupportedOperator(f"3D operators the rewrite does not cover: {', '.join(left)}")
    return rewritten


def check_outputs(original: torch.export.ExportedProgram, rewritten: nn.Module, example: tuple, atol: float) -> None:
    """The rewritten module's output equals the original's on ``example`` (the rewrite's check)."""
    with torch.no_grad():
        expected, actual = original.module()(*example), rewritten(*example)
    expected = expected if isinstance(expected, (list, tuple)) else [expected]
    actual = actual if isinstance(actual, (list, tuple)) else [actual]
    for e, a in zip(expected, actual):
        scale = max(e.abs().max().item(), 1e-6)
        diff = (e - a).abs().max().item()
        if diff > atol * scale:
            raise RuntimeError(f"the 2D rewrite differs from the model by {diff:.3g} (output scale {scale:.3g})")
