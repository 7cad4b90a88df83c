"""Efficient X3D: PyTorchVideo's accelerator X3D-XS/S, built from blocks that map to 2D kernels.

PyTorchVideo's ``accelerator`` hub models ``efficient_x3d_xs`` and ``efficient_x3d_s``
(``pytorchvideo/models/accelerator/mobile_cpu/efficient_x3d.py``) are X3D-XS and X3D-S
written as "efficient blocks" so that a phone runtime can run them: the same arithmetic as
X3D, but a layout of their own, and a head that averages over every position (any input
size) instead of X3D's fixed pooling kernel. Their checkpoints
(``efficient_x3d_{xs,s}_original_form.pyth``, a bare state dict) load here unchanged.

Layout of those files (``s1`` ... ``s5``, ``head``, ``projection``):

- ``s1``: ``pathway0_stem_conv_xy`` (1x3x3 conv, stride 2, no BN, no activation), then
  ``pathway0_stem_conv`` (depthwise 5x1x1 conv, BN, ReLU); each unit's layers live under
  ``kernel`` (``kernel.conv``, ``kernel.bn``).
- ``s2`` ... ``s5``: blocks ``pathway0_res<i>``: ``layers.conv_0`` (1x1x1, BN, ReLU),
  ``layers.conv_1`` (depthwise 3x3x3, spatial stride 2 in a stage's first block, BN),
  ``layers.se.se.block`` (squeeze-excitation in every other block, from the first),
  swish, ``layers.conv_2`` (1x1x1, BN); the shortcut (``_res_proj``: 1x1x1 with the
  stride, BN, where the shape changes) is added and a ReLU follows.
- ``head``: ``conv_5`` (1x1x1 to 432, BN, ReLU), global average pool, ``lin_5`` (1x1x1 to
  2048, ReLU); then dropout, ``projection.model`` (linear), and in eval mode the mean over
  positions. The hub model's head activation is the identity: it outputs logits.

Example:
    >>> import torch, zoo
    >>> model = zoo.create_model("efficient_x3d_xs").eval()
    >>> model(torch.zeros(1, 3, 4, 64, 64)).shape
    torch.Size([1, 400])
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

from zoo.models.x3d import BASE_STAGE_DEPTHS, SE_RATIO, STEM_WIDTH, X3D_VARIANTS, SqueezeExcitation, round_width

HEAD_WIDTH = 2048


class ConvUnit(nn.Module):
    """A convolution, optional batch norm and optional activation, kept under ``kernel`` (the
    checkpoints' ``<unit>.kernel.conv`` / ``<unit>.kernel.bn`` keys)."""

    def __init__(self, conv: nn.Conv3d, norm: bool, activation: nn.Module | None):
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict(conv=conv)
        if norm:
            layers["bn"] = nn.BatchNorm3d(conv.out_channels)
        if activation is not None:
            layers["act"] = activation
        self.kernel = nn.Sequential(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.kernel(x)


def pointwise(dim_in: int, dim_out: int, *, norm: bool = True, relu: bool = False, stride: int = 1) -> ConvUnit:
    """1x1x1 convolution (spatial ``stride``), BN, optional ReLU."""
    conv = nn.Conv3d(dim_in, dim_out, 1, stride=(1, stride, stride), bias=False)
    return ConvUnit(conv, norm, nn.ReLU() if relu else None)


class GatedChannels(nn.Module):
    """Squeeze-excitation under the name the checkpoints give it (``se.se.block``)."""

    def __init__(self, channels: int):
        super().__init__()
        self.se = SqueezeExcitation(channels, round_width(channels * SE_RATIO))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(x)


class EfficientBottleneck(nn.Module):
    """X3D's inverted bottleneck with its shortcut: conv_0 -> dw conv_1 (-> SE) -> swish -> conv_2, + x, ReLU."""

    def __init__(self, dim_in: int, dim_inner: int, dim_out: int, spatial_stride: int, squeeze_excite: bool):
        super().__init__()
        if spatial_stride != 1 or dim_in != dim_out:
            self._res_proj = pointwise(dim_in, dim_out, stride=spatial_stride)  # the checkpoints' key
        else:
            self._res_proj = None
        depthwise = nn.Conv3d(dim_inner, dim_inner, 3, stride=(1, spatial_stride, spatial_stride), padding=1,
                              groups=dim_inner, bias=False)
        layers: OrderedDict[str, nn.Module] = OrderedDict(conv_0=pointwise(dim_in, dim_inner, relu=True),
                                                          conv_1=ConvUnit(depthwise, True, None))
        if squeeze_excite:
            layers["se"] = GatedChannels(dim_inner)
        layers["act_func_1"] = nn.SiLU()  # swish, x * sigmoid(x)
        layers["conv_2"] = pointwise(dim_inner, dim_out)
        self.layers = nn.Sequential(layers)
        self.final_act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self._res_proj is None else self._res_proj(x)
        return self.final_act(shortcut + self.layers(x))


class Projection(nn.Module):
    """The classifier under the checkpoints' name (``projection.model``)."""

    def __init__(self, dim_in: int, num_classes: int):
        super().__init__()
        self.model = nn.Linear(dim_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class GlobalAveragePool(nn.Module):
    """Average over frames and positions: the head takes clips of any size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3, 4), keepdim=True)


class EfficientX3D(nn.Module):
    """Stem ``s1``, stages ``s2`` ... ``s5``, ``head`` (conv_5, pool, lin_5), dropout and ``projection``."""

    def __init__(self, stages: list[nn.Sequential], stem: nn.Sequential, head: nn.Sequential, projection: Projection,
                 dropout: float):
        super().__init__()
        self.s1 = stem
        for index, stage in enumerate(stages, 2):
            setattr(self, f"s{index}", stage)
        self.head = head
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.projection = projection

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.s5(self.s4(self.s3(self.s2(self.s1(x))))))
        x = self.projection(self.dropout(x.permute(0, 2, 3, 4, 1)))  # (B, T, H, W, classes)
        if not self.training:
            x = x.mean(dim=(1, 2, 3))  # one position after the global pool: the mean is that position
        return x.reshape(x.shape[0], -1)


def build_efficient_x3d(entry, num_classes: int | None = None, dropout: float = 0.5) -> EfficientX3D:
    """Efficient X3D-XS or X3D-S (PyTorchVideo hub ``efficient_x3d_xs`` / ``efficient_x3d_s``).

    Widths and depths are X3D's (stem 24; stages 24/48/96/192 with inner widths x2.25 and
    3/5/11/7 blocks); only the layout and the head's global pool differ from
    :func:`zoo.models.x3d.build_x3d`.
    """
    variant = X3D_VARIANTS[entry.depth]
    stem_width = round_width(STEM_WIDTH * variant.width_factor)
    stem = nn.Sequential(OrderedDict(
        pathway0_stem_conv_xy=ConvUnit(nn.Conv3d(3, stem_width, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1),
                                                 bias=False), False, None),
        pathway0_stem_conv=ConvUnit(nn.Conv3d(stem_width, stem_width, (5, 1, 1), padding=(2, 0, 0), groups=stem_width,
                                              bias=False), True, nn.ReLU()),
    ))
    stages = []
    dim_in = stem_width
    for idx, base_depth in enumerate(BASE_STAGE_DEPTHS):
        dim_out = round_width(STEM_WIDTH * 2**idx * variant.width_factor)
        dim_inner = int(variant.bottleneck_factor * dim_out)
        blocks = OrderedDict()
        for i in range(math.ceil(base_depth * variant.depth_factor)):
            blocks[f"pathway0_res{i}"] = EfficientBottleneck(dim_in if i == 0 else dim_out, dim_inner, dim_out,
                                                             2 if i == 0 else 1, squeeze_excite=i % 2 == 0)
        stages.append(nn.Sequential(blocks))
        dim_in = dim_out
    head = nn.Sequential(OrderedDict(
        conv_5=pointwise(dim_in, dim_inner, relu=True),  # to the last stage's inner width (432)
        avg_pool=GlobalAveragePool(),
        lin_5=pointwise(dim_inner, HEAD_WIDTH, norm=False, relu=True),
    ))
    return EfficientX3D(stages, stem, head, Projection(HEAD_WIDTH, num_classes or entry.num_classes), dropout)
