"""X3D: a small ResNet expanded along width, depth, frames and resolution.

Feichtenhofer, "X3D: Expanding Architectures for Efficient Video Recognition", CVPR 2020.

Layout of the published checkpoints (``X3D_XS.pyth`` ... ``X3D_L.pyth``):

- ``blocks.0``: stem; ``conv`` is a 1x3x3 spatial convolution (stored as ``conv.conv_t``) then
  a depthwise 5x1x1 temporal one (stored as ``conv.conv_xy``), then ``norm``, ReLU
- ``blocks.1..4``: stages of inverted bottlenecks: 1x1x1 -> depthwise 3x3x3 (spatial stride 2
  in each stage's first block) -> 1x1x1; ``norm_b`` is ``[batch norm, squeeze-excitation]``
  (excitation in every other block, starting with the first; identity otherwise); swish after it
- ``blocks.5``: head: ``pool`` (1x1x1 conv, BN, ReLU, average pool, 1x1x1 conv to 2048, ReLU),
  dropout, ``proj``, softmax per position, global average

Example:
    >>> import torch, zoo
    >>> model = zoo.create_model("x3d_xs").eval()
    >>> model(torch.zeros(1, 3, 4, 64, 64)).shape
    torch.Size([1, 400])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from zoo.models.r2plus1d import Conv2plus1d
from zoo.models.resnet import Bottleneck, ResBlock, ResStage, VideoNet, conv3d


@dataclass(frozen=True)
class X3DVariant:
    """How a variant expands the X3D base network (the paper's Table 3)."""

    depth_factor: float
    #: The crop the model was trained on; it fixes the head's pooling kernel (crop / 32).
    train_crop_size: int
    width_factor: float = 2.0
    bottleneck_factor: float = 2.25


#: XS, S and M differ only in frames and resolution (the catalogue entry's clip); L is deeper.
X3D_VARIANTS = {
    "xs": X3DVariant(depth_factor=2.2, train_crop_size=160),
    "s": X3DVariant(depth_factor=2.2, train_crop_size=160),
    "m": X3DVariant(depth_factor=2.2, train_crop_size=224),
    "l": X3DVariant(depth_factor=5.0, train_crop_size=312),
}

STEM_WIDTH = 12  # before the width factor
BASE_STAGE_DEPTHS = (1, 2, 5, 3)  # before the depth factor
SE_RATIO = 0.0625
HEAD_WIDTH = 2048
SPATIAL_STRIDE = 32  # stem 2 x four stages of 2


def round_width(width: float, divisor: int = 8) -> int:
    """Nearest multiple of ``divisor`` (at least ``divisor``), rounded up if that loses over 10%.

    >>> round_width(12 * 2.0), round_width(432 * 0.0625), round_width(54 * 0.0625)
    (24, 32, 8)
    """
    rounded = max(divisor, int(width + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * width:
        rounded += divisor
    return int(rounded)


class SqueezeExcitation(nn.Module):
    """Channel attention: scale each channel by a gate computed from its global mean."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv3d(channels, reduced, 1, bias=True),
            nn.ReLU(),
            nn.Conv3d(reduced, channels, 1, bias=True),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.block(x.mean(dim=(2, 3, 4), keepdim=True))


class X3DStem(nn.Module):
    """Spatial 1x3x3 conv (stride 2) -> depthwise temporal 5x1x1 conv -> BN -> ReLU."""

    def __init__(self, dim_out: int, temporal_kernel: int = 5):
        super().__init__()
        spatial = nn.Conv3d(3, dim_out, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), bias=False)
        temporal = nn.Conv3d(
            dim_out, dim_out, (temporal_kernel, 1, 1), padding=(temporal_kernel // 2, 0, 0), groups=dim_out, bias=False
        )
        # The published checkpoints store the spatial conv as ``conv_t`` (it runs first).
        self.conv = Conv2plus1d(conv_t=spatial, conv_xy=temporal)
        self.norm = nn.BatchNorm3d(dim_out)
        self.activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.norm(self.conv(x)))


class X3DBottleneck(Bottleneck):
    """Inverted bottleneck: 1x1x1 -> depthwise 3x3x3 -> BN (+ squeeze-excitation) -> swish -> 1x1x1."""

    def __init__(self, dim_in: int, dim_inner: int, dim_out: int, spatial_stride: int, squeeze_excite: bool):
        depthwise = conv3d(dim_inner, dim_inner, (3, 3, 3), stride=(1, spatial_stride, spatial_stride), groups=dim_inner)
        super().__init__(dim_in, dim_inner, dim_out, conv_a_kernel=(1, 1, 1), conv_b=depthwise)
        excite = SqueezeExcitation(dim_inner, round_width(dim_inner * SE_RATIO)) if squeeze_excite else nn.Identity()
        self.norm_b = nn.Sequential(nn.BatchNorm3d(dim_inner), excite)
        self.act_b = nn.SiLU()  # swish


class X3DResBlock(ResBlock):
    """A residual block whose strided shortcut has no batch norm when the width is unchanged.

    That is the published X3D layout (only the first stage, 24 -> 24 channels, is affected).
    """

    def __init__(self, dim_in: int, dim_out: int, branch2: nn.Module, stride: Sequence[int]):
        super().__init__(dim_in, dim_out, branch2, stride)
        if dim_in == dim_out:
            self.branch1_norm = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        if self.branch1_conv is not None:
            shortcut = self.branch1_conv(shortcut)
        if self.branch1_norm is not None:
            shortcut = self.branch1_norm(shortcut)
        return self.activation(self.branch2(x) + shortcut)


def x3d_stage(depth: int, dim_in: int, dim_inner: int, dim_out: int, spatial_stride: int = 2) -> ResStage:
    """``depth`` X3D blocks; the first strides; squeeze-excitation in blocks 1, 3, 5, ..."""
    blocks = []
    for i in range(depth):
        stride = spatial_stride if i == 0 else 1
        block_in = dim_in if i == 0 else dim_out
        branch2 = X3DBottleneck(block_in, dim_inner, dim_out, stride, squeeze_excite=i % 2 == 0)
        blocks.append(X3DResBlock(block_in, dim_out, branch2, stride=(1, stride, stride)))
    return ResStage(blocks)


class ProjectedPool(nn.Module):
    """1x1x1 conv -> BN -> ReLU -> average pool (kernel clipped to the input) -> 1x1x1 conv -> ReLU."""

    def __init__(self, dim_in: int, dim_inner: int, dim_out: int, pool_kernel: Sequence[int]):
        super().__init__()
        self.pool_kernel = tuple(pool_kernel)
        self.pre_conv = nn.Conv3d(dim_in, dim_inner, 1, bias=False)
        self.pre_norm = nn.BatchNorm3d(dim_inner)
        self.pre_act = nn.ReLU()
        self.post_conv = nn.Conv3d(dim_inner, dim_out, 1, bias=False)
        self.post_act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre_act(self.pre_norm(self.pre_conv(x)))
        # The published kernel matches the training clip; clipping only changes inputs smaller
        # than it, where the published model cannot run at all.
        kernel = tuple(min(k, n) for k, n in zip(self.pool_kernel, x.shape[2:]))
        x = nn.functional.avg_pool3d(x, kernel, stride=1)
        return self.post_act(self.post_conv(x))


class X3DHead(nn.Module):
    """``pool`` (:class:`ProjectedPool`) -> dropout -> ``proj`` -> softmax per position -> global average.

    Modules are registered in the published files' key order (``pool`` before ``proj``).
    """

    def __init__(self, dim_in: int, dim_inner: int, num_classes: int, pool_kernel: Sequence[int], dropout: float = 0.5):
        super().__init__()
        self.pool = ProjectedPool(dim_in, dim_inner, HEAD_WIDTH, pool_kernel)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.proj = nn.Linear(HEAD_WIDTH, num_classes)
        self.activation = nn.Softmax(dim=1)
        self.output_pool = nn.AdaptiveAvgPool3d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x)
        if self.dropout is not None:
            x = self.dropout(x)
        # channels last so the linear layer acts per position, then back
        x = self.proj(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)
        if self.activation is not None:  # None gives logits (e.g. for training with a loss on them)
            x = self.activation(x)
        return self.output_pool(x).flatten(1)


def build_x3d(entry, num_classes: int | None = None, dropout: float = 0.5) -> VideoNet:
    """X3D-XS/S/M/L (PyTorchVideo hub ``x3d_xs`` ... ``x3d_l``) for ``entry``.

    Widths: stem 24, stages 24/48/96/192 (inner x2.25); depths 1/2/5/3 x depth factor, rounded up.
    The head pools over the entry's frames and ``train_crop_size / 32`` positions.
    """
    variant = X3D_VARIANTS[entry.depth]
    stem_width = round_width(STEM_WIDTH * variant.width_factor)
    blocks: list[nn.Module] = [X3DStem(stem_width)]
    dim_in = stem_width
    for idx, base_depth in enumerate(BASE_STAGE_DEPTHS):
        dim_out = round_width(STEM_WIDTH * 2**idx * variant.width_factor)
        dim_inner = int(variant.bottleneck_factor * dim_out)
        depth = math.ceil(base_depth * variant.depth_factor)
        blocks.append(x3d_stage(depth, dim_in, dim_inner, dim_out))
        dim_in = dim_out
    positions = math.ceil(variant.train_crop_size / SPATIAL_STRIDE)
    pool_kernel = (entry.num_frames, positions, positions)
    blocks.append(X3DHead(dim_in, dim_inner, num_classes or entry.num_classes, pool_kernel, dropout))
    return VideoNet(blocks)
