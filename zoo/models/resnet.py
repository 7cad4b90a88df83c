"""ResNet-family video networks: C2D, I3D and Slow (and the building blocks other families reuse).

The published checkpoints name their parameters by module path, e.g.
``blocks.1.res_blocks.0.branch2.conv_a.weight``; the modules here are laid out so that
``state_dict()`` has exactly those keys:

- ``blocks.0``: :class:`Stem` (conv, norm, activation, pool)
- ``blocks.1..4``: :class:`ResStage` of :class:`ResBlock` (``branch1_conv``/``branch1_norm``
  shortcut, ``branch2`` :class:`Bottleneck`)
- an optional temporal max-pool after the first stage (C2D, I3D), which shifts later indices
- the last block: :class:`ClassificationHead` (``proj`` is the classifier)

Example:
    >>> import torch, zoo
    >>> model = zoo.create_model("slow_r50_4x16_kinetics400")
    >>> model(torch.zeros(1, 3, 4, 64, 64)).shape
    torch.Size([1, 400])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

Triple = tuple[int, int, int]

#: Number of bottleneck blocks per stage for each ResNet depth.
STAGE_DEPTHS = {"r50": (3, 4, 6, 3), "r101": (3, 4, 23, 3)}


def _same_padding(kernel: Sequence[int], dilation: Sequence[int] = (1, 1, 1)) -> Triple:
    return tuple(d * (k // 2) for k, d in zip(kernel, dilation))  # type: ignore[return-value]


def conv3d(
    dim_in: int,
    dim_out: int,
    kernel: Sequence[int],
    stride: Sequence[int] = (1, 1, 1),
    groups: int = 1,
    dilation: Sequence[int] = (1, 1, 1),
) -> nn.Conv3d:
    """A bias-free 3D convolution with 'same' padding, the only kind these networks use."""
    return nn.Conv3d(
        dim_in,
        dim_out,
        tuple(kernel),
        stride=tuple(stride),
        padding=_same_padding(kernel, dilation),
        dilation=tuple(dilation),
        groups=groups,
        bias=False,
    )


class Stem(nn.Module):
    """conv -> batch norm -> ReLU -> max pool (spatial stride 4 in all)."""

    def __init__(self, dim_in: int, dim_out: int, kernel: Sequence[int], pool: bool = True):
        super().__init__()
        self.conv = conv3d(dim_in, dim_out, kernel, stride=(1, 2, 2))
        self.norm = nn.BatchNorm3d(dim_out)
        self.activation = nn.ReLU()
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)) if pool else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.activation(self.norm(self.conv(x)))
        return self.pool(x) if self.pool is not None else x


class Bottleneck(nn.Module):
    """1x1 (optionally temporal) -> kxk (spatial, strided, grouped) -> 1x1 expansion."""

    def __init__(
        self,
        dim_in: int,
        dim_inner: int,
        dim_out: int,
        *,
        conv_a_kernel: Sequence[int],
        conv_b_kernel: Sequence[int] = (1, 3, 3),
        temporal_stride: int = 1,
        spatial_stride: int = 1,
        conv_b_groups: int = 1,
        conv_b: nn.Module | None = None,
        conv_b_dilation: Sequence[int] = (1, 1, 1),
    ):
        super().__init__()
        self.conv_a = conv3d(dim_in, dim_inner, conv_a_kernel, stride=(temporal_stride, 1, 1))
        self.norm_a = nn.BatchNorm3d(dim_inner)
        self.act_a = nn.ReLU()
        self.conv_b = conv_b or conv3d(
            dim_inner,
            dim_inner,
            conv_b_kernel,
            stride=(1, spatial_stride, spatial_stride),
            groups=conv_b_groups,
            dilation=conv_b_dilation,
        )
        self.norm_b = nn.BatchNorm3d(dim_inner)
        self.act_b = nn.ReLU()
        self.conv_c = conv3d(dim_inner, dim_out, (1, 1, 1))
        self.norm_c = nn.BatchNorm3d(dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act_a(self.norm_a(self.conv_a(x)))
        x = self.act_b(self.norm_b(self.conv_b(x)))
        return self.norm_c(self.conv_c(x))


class ResBlock(nn.Module):
    """Residual block: ``relu(branch2(x) + shortcut(x))``; the shortcut projects when shapes change."""

    def __init__(self, dim_in: int, dim_out: int, branch2: nn.Module, stride: Sequence[int] = (1, 1, 1)):
        super().__init__()
        project = dim_in != dim_out or any(s != 1 for s in stride)
        self.branch1_conv = nn.Conv3d(dim_in, dim_out, 1, stride=tuple(stride), bias=False) if project else None
        self.branch1_norm = nn.BatchNorm3d(dim_out) if project else None
        self.branch2 = branch2
        self.activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.branch1_norm(self.branch1_conv(x)) if self.branch1_conv is not None else x
        return self.activation(self.branch2(x) + shortcut)


class ResStage(nn.Module):
    """A sequence of residual blocks; only the first one strides or changes width."""

    def __init__(self, res_blocks: Sequence[nn.Module]):
        super().__init__()
        self.res_blocks = nn.ModuleList(res_blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.res_blocks:
            x = block(x)
        return x


def bottleneck_stage(
    depth: int,
    dim_in: int,
    dim_inner: int,
    dim_out: int,
    *,
    conv_a_kernels: Sequence[Sequence[int]],
    spatial_stride: int,
    temporal_stride: int = 1,
    conv_b_kernel: Sequence[int] = (1, 3, 3),
    conv_b_groups: int = 1,
    conv_b_dilation: Sequence[int] = (1, 1, 1),
) -> ResStage:
    """A stage of ``depth`` bottleneck blocks; ``conv_a_kernels`` cycles over the blocks.

    ``conv_b_dilation`` dilates every block's spatial conv (the AVA detectors keep res5 at
    stride 1 and dilate it instead, so the RoI features stay at 1/16 resolution).
    """
    blocks = []
    for i in range(depth):
        first = i == 0
        t_stride, s_stride = (temporal_stride, spatial_stride) if first else (1, 1)
        branch2 = Bottleneck(
            dim_in if first else dim_out,
            dim_inner,
            dim_out,
            conv_a_kernel=conv_a_kernels[i % len(conv_a_kernels)],
            conv_b_kernel=conv_b_kernel,
            temporal_stride=t_stride,
            spatial_stride=s_stride,
            conv_b_groups=conv_b_groups,
            conv_b_dilation=conv_b_dilation,
        )
        blocks.append(ResBlock(dim_in if first else dim_out, dim_out, branch2, stride=(t_stride, s_stride, s_stride)))
    return ResStage(blocks)


def strided_conv_b_backbone(
    stem: nn.Module,
    depth: str,
    stage_strides: Sequence[tuple[int, int]],
    make_conv_b: Callable[[int, Triple], nn.Module],
) -> tuple[list[nn.Module], int, int]:
    """Stem and four stages whose blocks have a 1x1x1 ``conv_a`` and a 3D ``conv_b`` from
    ``make_conv_b(width, stride)`` that carries the block's whole (temporal, spatial) stride.

    CSN (depthwise conv_b) and R(2+1)D (factored conv_b) are this network with different
    ``conv_b``. ``stage_strides`` holds each stage's (temporal, spatial) stride. Returns
    (blocks, output width, total temporal stride).
    """
    blocks: list[nn.Module] = [stem]
    dim_in, dim_out, temporal_total = 64, 256, 1
    for n_blocks, (t_stride, s_stride) in zip(STAGE_DEPTHS[depth], stage_strides):
        dim_inner, res_blocks = dim_out // 4, []
        for i in range(n_blocks):
            stride = (t_stride, s_stride, s_stride) if i == 0 else (1, 1, 1)
            block_in = dim_in if i == 0 else dim_out
            branch2 = Bottleneck(block_in, dim_inner, dim_out, conv_a_kernel=(1, 1, 1), conv_b=make_conv_b(dim_inner, stride))
            res_blocks.append(ResBlock(block_in, dim_out, branch2, stride=stride))
        blocks.append(ResStage(res_blocks))
        dim_in, dim_out, temporal_total = dim_out, dim_out * 2, temporal_total * t_stride
    return blocks, dim_in, temporal_total


class ClassificationHead(nn.Module):
    """avg pool (fixed kernel, stride 1) -> dropout -> linear -> global average -> (B, classes).

    The fixed pooling kernel matches the training crop (224 -> 7x7); at a larger test crop
    it slides and the remaining positions are averaged, exactly as the published models do.
    On inputs smaller than the kernel (where the reference fails) it is clipped to the input,
    which makes small test inputs usable.
    """

    def __init__(
        self,
        dim_in: int,
        num_classes: int,
        pool_kernel: Sequence[int] | None,
        dropout: float = 0.5,
        activation: nn.Module | None = None,
    ):
        super().__init__()
        self.pool_kernel = tuple(pool_kernel) if pool_kernel is not None else None
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.proj = nn.Linear(dim_in, num_classes)
        # Some published heads (X3D, R(2+1)D) apply softmax per position before averaging.
        self.activation = activation
        self.output_pool = nn.AdaptiveAvgPool3d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool_kernel is not None:
            kernel = tuple(min(k, n) for k, n in zip(self.pool_kernel, x.shape[2:]))
            x = nn.functional.avg_pool3d(x, kernel, stride=1)
        if self.dropout is not None:
            x = self.dropout(x)
        # channels last so the linear layer acts per position, then back
        x = self.proj(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)
        if self.activation is not None:
            x = self.activation(x)
        return self.output_pool(x).flatten(1)


class VideoNet(nn.Module):
    """A plain chain of blocks (``self.blocks``), the layout of the published checkpoints."""

    def __init__(self, blocks: Sequence[nn.Module]):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


#: conv_a (temporal) kernels per stage; a list inside a stage alternates over its blocks.
_T1, _T3 = (1, 1, 1), (3, 1, 1)
RESNET_VARIANTS = {
    # C2D: no temporal convolution anywhere; a temporal max pool after stage 1 halves time.
    "c2d": dict(stem_kernel=(1, 7, 7), stage1_pool=True, conv_a=([_T1], [_T1], [_T1], [_T1])),
    # I3D: inflated 5x7x7 stem and 3x1x1 in alternating blocks (as the published model).
    "i3d": dict(stem_kernel=(5, 7, 7), stage1_pool=True, conv_a=([_T3], [_T3, _T1], [_T3, _T1], [_T1, _T3])),
    # Slow: the SlowFast paper's slow-only pathway, temporal kernels in res4 and res5 only.
    "slow": dict(stem_kernel=(1, 7, 7), stage1_pool=False, conv_a=([_T1], [_T1], [_T3], [_T3])),
}


#: Spatial stride of each stage in the classification networks (res2 .. res5).
CLASSIFICATION_SPATIAL_STRIDES = (1, 2, 2, 2)


def build_resnet_backbone(
    variant: str,
    depth: str = "r50",
    *,
    spatial_strides: Sequence[int] = CLASSIFICATION_SPATIAL_STRIDES,
    conv_b_dilations: Sequence[Sequence[int]] = ((1, 1, 1),) * 4,
) -> tuple[list[nn.Module], int]:
    """Stem and the four stages of a C2D/I3D/Slow network; returns (blocks, output width).

    ``spatial_strides`` and ``conv_b_dilations`` (one per stage) default to the
    classification networks; the AVA detectors use strides (1, 2, 2, 1) with res5 dilated 2.
    """
    spec = RESNET_VARIANTS[variant]
    blocks: list[nn.Module] = [Stem(3, 64, spec["stem_kernel"])]
    dim_in, dim_out = 64, 256
    for idx, n_blocks in enumerate(STAGE_DEPTHS[depth]):
        blocks.append(
            bottleneck_stage(
                n_blocks,
                dim_in,
                dim_out // 4,
                dim_out,
                conv_a_kernels=spec["conv_a"][idx],
                spatial_stride=spatial_strides[idx],
                conv_b_dilation=conv_b_dilations[idx],
            )
        )
        if idx == 0 and spec["stage1_pool"]:
            blocks.append(nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1)))
        dim_in, dim_out = dim_out, dim_out * 2
    return blocks, dim_in


def head_temporal_size(variant: str, num_frames: int) -> int:
    """Frames left at the head: C2D and I3D halve time once (stage-1 pool)."""
    return num_frames // 2 if RESNET_VARIANTS[variant]["stage1_pool"] else num_frames


def _build(variant: str, entry, num_classes: int | None = None, dropout: float = 0.5) -> VideoNet:
    blocks, width = build_resnet_backbone(variant, entry.depth)
    pool_kernel = (head_temporal_size(variant, entry.num_frames), 7, 7)
    blocks.append(ClassificationHead(width, num_classes or entry.num_classes, pool_kernel, dropout))
    return VideoNet(blocks)


def build_c2d(entry, **overrides) -> VideoNet:
    """C2D R50: a 2D ResNet-50 applied per frame, temporal pooling after stage 1."""
    return _build("c2d", entry, **overrides)


def build_i3d(entry, **overrides) -> VideoNet:
    """I3D R50: ResNet-50 inflated to 3D (5x7x7 stem, 3x1x1 in alternating blocks)."""
    return _build("i3d", entry, **overrides)


def build_slow(entry, **overrides) -> VideoNet:
    """Slow R50 (the SlowFast paper's slow-only network), for 4x16 and 8x8 inputs."""
    return _build("slow", entry, **overrides)
