"""SlowFast networks (and the Slow heads of the SSv2 / Charades fine-tunes).

A SlowFast network runs two ResNet pathways side by side: a *slow* one (few frames, full
width) and a *fast* one (``alpha`` times the frames, ``1 / beta_inv`` of the width). After
the stem and after each of the first three stages a lateral connection (a strided temporal
convolution) carries fast features into the slow pathway, where they are concatenated.
The input is a list ``[slow, fast]`` of (B, 3, T, H, W) clips, as PyTorchVideo's hub models
take it.

Module tree (the key layout of the published checkpoints):

- ``blocks.0``: :class:`MultiPathwayStage` of two :class:`~zoo.models.resnet.Stem`
  (``multipathway_blocks.0`` slow, ``.1`` fast) and a :class:`FastToSlowFusion`
  (``multipathway_fusion.conv_fast_to_slow`` / ``.norm``)
- ``blocks.1..4``: :class:`MultiPathwayStage` of two :class:`~zoo.models.resnet.ResStage`;
  stages 1-3 fuse, the last one does not
- ``blocks.5``: :class:`PathwayPool` (per-pathway average pool, concatenation; no weights)
- ``blocks.6``: :class:`~zoo.models.resnet.ClassificationHead` (``proj``)

The per-variant architecture settings (lateral kernel, which blocks have temporal kernels,
the head activation of the PySlowFast fine-tunes) are catalogue data; see
:func:`slowfast_params`.

Outputs: the Kinetics-400 entries return logits, as the PyTorchVideo hub models do. The
SSv2 and Charades entries were trained and evaluated through PySlowFast's PyTorchVideo
wrappers (``configs/{SSv2,Charades}/pytorchvideo/*_8x8_R50.yaml``), which at test time apply
``MODEL.HEAD_ACT`` at every spatio-temporal position of the head and then average: softmax
for SSv2 (the default), sigmoid for Charades (multi-label, trained with BCE). These models
do the same, so they return *scores*; the entry's ``head_activation`` field says which (pass
``head_activation=None`` to the builder for logits, e.g. for fine-tuning).

Reusable backbone: :func:`slowfast_backbone_blocks` returns ``blocks.0..4`` (stem and
stages with their fusions) and the concatenated output width, without pooling or head;
:mod:`zoo.models.detection` builds the AVA SlowFast detector on it. Keep its name and
signature stable.

Example:
    >>> import torch, zoo
    >>> model = zoo.create_model("slowfast_r50")
    >>> slow, fast = torch.zeros(1, 3, 2, 64, 64), torch.zeros(1, 3, 8, 64, 64)
    >>> model([slow, fast]).shape
    torch.Size([1, 400])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn

from zoo.models.resnet import (
    STAGE_DEPTHS,
    ClassificationHead,
    ResStage,
    Stem,
    VideoNet,
    bottleneck_stage,
    build_resnet_backbone,
)

Triple = tuple[int, int, int]

#: Temporal kernel size of conv_a per pathway for stem, res2, res3, res4, res5 (the SlowFast
#: paper's design: the slow pathway is temporal only in res4/res5, the fast one everywhere).
TEMPORAL_KERNEL_BASIS = {"slow": (1, 1, 1, 3, 3), "fast": (5, 3, 3, 3, 3)}

#: Channel widths of the slow pathway: stem output, then res2..res5 outputs.
SLOW_STEM_WIDTH = 64
#: Training crop: the head's average-pool kernel covers its final feature map (224 / 32 = 7).
TRAIN_CROP_SIZE = 224
FEATURE_STRIDE = 32

#: Head activations of the PySlowFast-trained entries (``MODEL.HEAD_ACT``), applied per
#: spatio-temporal position before averaging, as PySlowFast's PyTorchVideo wrappers evaluate.
HEAD_ACTIVATIONS = {
    "softmax": lambda: nn.Softmax(dim=1),
    "sigmoid": nn.Sigmoid,
}


@dataclass(frozen=True)
class SlowFastParams:
    """Architecture of one SlowFast variant (PySlowFast's ``SLOWFAST``/``RESNET`` config keys)."""

    depth: str = "r50"
    #: Frame-rate ratio fast / slow (``SLOWFAST.ALPHA``); also the lateral conv's temporal stride.
    alpha: int = 4
    #: Channel ratio slow / fast (``SLOWFAST.BETA_INV``).
    beta_inv: int = 8
    #: Temporal kernel of the lateral fast->slow convolution (``SLOWFAST.FUSION_KERNEL_SZ``).
    fusion_kernel: int = 7
    #: Lateral output channels per fast input channel (``SLOWFAST.FUSION_CONV_CHANNEL_RATIO``).
    fusion_channel_ratio: int = 2
    #: Per stage, how many leading blocks use the temporal kernel of the basis; the rest are
    #: 1x1x1 (``RESNET.NUM_BLOCK_TEMP_KERNEL``). ``None``: every block. R101_50_50 is (3, 4, 6, 3).
    temporal_kernel_blocks: tuple[int, ...] | None = None
    #: Frames of the fast clip the head's pool kernel was trained for (slow: ``// alpha``).
    fast_frames: int = 32
    #: Spatial stride and conv_b dilation per stage (res2..res5); detection keeps res5 at 1 / 2.
    spatial_strides: tuple[int, ...] = (1, 2, 2, 2)
    conv_b_dilations: tuple[Triple, ...] = ((1, 1, 1),) * 4

    @property
    def fast_stem_width(self) -> int:
        return SLOW_STEM_WIDTH // self.beta_inv

    @property
    def output_widths(self) -> tuple[int, int]:
        """Channels of the slow and fast res5 outputs (2048 and 256 for beta_inv 8)."""
        slow = SLOW_STEM_WIDTH * 4 * 2 ** (len(STAGE_DEPTHS[self.depth]) - 1)
        return slow, slow // self.beta_inv

    def head_pool_kernels(self) -> tuple[Triple, Triple]:
        """Average-pool kernels of the head per pathway: the whole training clip and crop."""
        side = TRAIN_CROP_SIZE // FEATURE_STRIDE
        return (self.fast_frames // self.alpha, side, side), (self.fast_frames, side, side)


def slowfast_params(entry, **changes) -> SlowFastParams:
    """The :class:`SlowFastParams` of a catalogue entry (its fields and extra TOML fields).

    Example:
        >>> import zoo
        >>> p = slowfast_params(zoo.get_entry("slowfast_16x8_r101_50_50"))
        >>> p.alpha, p.fusion_kernel, p.temporal_kernel_blocks, p.head_pool_kernels()
        (4, 5, (3, 4, 6, 3), ((16, 7, 7), (64, 7, 7)))
    """
    extra = entry.extra
    blocks = extra.get("temporal_kernel_blocks")
    params = SlowFastParams(
        depth=entry.depth,
        alpha=entry.alpha,
        beta_inv=extra.get("beta_inv", SlowFastParams.beta_inv),
        fusion_kernel=extra.get("fusion_kernel", SlowFastParams.fusion_kernel),
        fusion_channel_ratio=extra.get("fusion_channel_ratio", SlowFastParams.fusion_channel_ratio),
        temporal_kernel_blocks=tuple(blocks) if blocks is not None else None,
        fast_frames=entry.num_frames,
    )
    return replace(params, **changes)


class FastToSlowFusion(nn.Module):
    """Lateral connection: fast features, strided in time by ``alpha``, concatenated to slow."""

    def __init__(self, fast_width: int, channel_ratio: int, kernel: int, alpha: int):
        super().__init__()
        out = fast_width * channel_ratio
        self.conv_fast_to_slow = nn.Conv3d(
            fast_width, out, (kernel, 1, 1), stride=(alpha, 1, 1), padding=(kernel // 2, 0, 0), bias=False
        )
        self.norm = nn.BatchNorm3d(out)
        self.activation = nn.ReLU()

    def forward(self, pathways: list[torch.Tensor]) -> list[torch.Tensor]:
        slow, fast = pathways
        lateral = self.activation(self.norm(self.conv_fast_to_slow(fast)))
        return [torch.cat([slow, lateral], dim=1), fast]


class MultiPathwayStage(nn.Module):
    """One module per pathway, applied to its own input, then an optional fusion."""

    def __init__(self, pathway_blocks: Sequence[nn.Module], fusion: nn.Module | None):
        super().__init__()
        self.multipathway_blocks = nn.ModuleList(pathway_blocks)
        self.multipathway_fusion = fusion

    def forward(self, pathways: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        # a new list: never overwrite the caller's inputs
        out = [block(x) for block, x in zip(self.multipathway_blocks, pathways, strict=True)]
        return self.multipathway_fusion(out) if self.multipathway_fusion is not None else out


class PathwayPool(nn.Module):
    """Average-pool each pathway (fixed kernel, stride 1), then concatenate along channels.

    As in :class:`~zoo.models.resnet.ClassificationHead`, a kernel larger than the input
    (small test inputs, where the reference fails) is clipped to the input.
    """

    def __init__(self, kernels: Sequence[Sequence[int]]):
        super().__init__()
        self.kernels = [tuple(k) for k in kernels]

    def forward(self, pathways: Sequence[torch.Tensor]) -> torch.Tensor:
        pooled = []
        for kernel, x in zip(self.kernels, pathways, strict=True):
            kernel = tuple(min(k, n) for k, n in zip(kernel, x.shape[2:]))
            pooled.append(nn.functional.avg_pool3d(x, kernel, stride=1))
        return torch.cat(pooled, dim=1)


class SlowFastNet(VideoNet):
    """``model([slow, fast]) -> (B, num_classes)``; the chain of :attr:`blocks` of the published files."""

    def forward(self, x: Sequence[torch.Tensor]):
        if isinstance(x, torch.Tensor) or len(x) != 2:
            raise TypeError("SlowFast takes a list [slow, fast] of (B, 3, T, H, W) clips")
        return super().forward(list(x))


def _conv_a_kernels(basis_t: int, n_blocks: int, n_temporal: int | None) -> list[Triple]:
    n_temporal = n_blocks if n_temporal is None else n_temporal
    return [(basis_t if i < n_temporal else 1, 1, 1) for i in range(n_blocks)]


def slowfast_backbone_blocks(
    entry_or_params,
    *,
    spatial_strides: Sequence[int] | None = None,
    conv_b_dilations: Sequence[Sequence[int]] | None = None,
) -> tuple[list[nn.Module], int]:
    """Stem and res2..res5 of both pathways with their lateral fusions (``blocks.0..4``).

    ``entry_or_params`` is a catalogue entry or a :class:`SlowFastParams`. ``spatial_strides``
    and ``conv_b_dilations`` (one per stage) override the classification defaults, e.g.
    ``(1, 2, 2, 1)`` and res5 dilated ``(1, 2, 2)`` for the AVA detector. Returns the blocks
    (each takes and returns a list ``[slow, fast]``) and the width of the two outputs
    concatenated (2304 for R50/R101 with beta_inv 8).

    Example:
        >>> import torch, zoo
        >>> blocks, width = slowfast_backbone_blocks(zoo.get_entry("slowfast_r50"))
        >>> x = [torch.zeros(1, 3, 2, 32, 32), torch.zeros(1, 3, 8, 32, 32)]
        >>> for block in blocks:
        ...     x = block(x)
        >>> [tuple(t.shape) for t in x], width
        ([(1, 2048, 2, 1, 1), (1, 256, 8, 1, 1)], 2304)
    """
    p = entry_or_params if isinstance(entry_or_params, SlowFastParams) else slowfast_params(entry_or_params)
    if spatial_strides is not None:
        p = replace(p, spatial_strides=tuple(spatial_strides))
    if conv_b_dilations is not None:
        p = replace(p, conv_b_dilations=tuple(tuple(d) for d in conv_b_dilations))
    slow_basis, fast_basis = TEMPORAL_KERNEL_BASIS["slow"], TEMPORAL_KERNEL_BASIS["fast"]

    def fusion(fast_width: int) -> FastToSlowFusion:
        return FastToSlowFusion(fast_width, p.fusion_channel_ratio, p.fusion_kernel, p.alpha)

    stems = [
        Stem(3, SLOW_STEM_WIDTH, (slow_basis[0], 7, 7)),
        Stem(3, p.fast_stem_width, (fast_basis[0], 7, 7)),
    ]
    blocks: list[nn.Module] = [MultiPathwayStage(stems, fusion(p.fast_stem_width))]

    slow_in, fast_in = SLOW_STEM_WIDTH, p.fast_stem_width
    slow_out = SLOW_STEM_WIDTH * 4
    stage_depths = STAGE_DEPTHS[p.depth]
    for idx, n_blocks in enumerate(stage_depths):
        fast_out = slow_out // p.beta_inv
        n_temporal = p.temporal_kernel_blocks[idx] if p.temporal_kernel_blocks is not None else None
        stage_args = dict(spatial_stride=p.spatial_strides[idx])
        if tuple(p.conv_b_dilations[idx]) != (1, 1, 1):  # only the detection backbone dilates
            stage_args["conv_b_dilation"] = tuple(p.conv_b_dilations[idx])
        # the slow pathway's input carries the lateral channels fused in after the previous stage
        slow_stage_in = slow_in + fast_in * p.fusion_channel_ratio
        pathways: list[ResStage] = [
            bottleneck_stage(
                n_blocks,
                slow_stage_in,
                slow_out // 4,
                slow_out,
                conv_a_kernels=_conv_a_kernels(slow_basis[idx + 1], n_blocks, n_temporal),
                **stage_args,
            ),
            bottleneck_stage(
                n_blocks,
                fast_in,
                fast_out // 4,
                fast_out,
                conv_a_kernels=_conv_a_kernels(fast_basis[idx + 1], n_blocks, n_temporal),
                **stage_args,
            ),
        ]
        last = idx == len(stage_depths) - 1
        blocks.append(MultiPathwayStage(pathways, None if last else fusion(fast_out)))
        slow_in, fast_in, slow_out = slow_out, fast_out, slow_out * 2
    return blocks, sum(p.output_widths)


#: Default of the builders' ``head_activation``: take it from the catalogue entry.
FROM_CATALOG = "catalog"


def resolve_head_activation(entry, name: str | None = FROM_CATALOG, num_classes: int | None = None) -> nn.Module | None:
    """The per-position head activation: the entry's ``head_activation`` field unless ``name``
    (a key of :data:`HEAD_ACTIVATIONS`, or ``None`` for raw logits) is given.

    A head of ``num_classes`` other than the entry's is a new single-label classifier (``zoo
    finetune`` trains it with cross-entropy on UCF101, HMDB51 or a folder per class), so a
    multi-label entry's sigmoid becomes a softmax there; pass ``name="sigmoid"`` for a
    multi-label head of your own.

    Example:
        >>> import zoo
        >>> resolve_head_activation(zoo.get_entry("slowfast_r50_8x8_charades"))
        Sigmoid()
        >>> resolve_head_activation(zoo.get_entry("slowfast_r50_8x8_charades"), num_classes=101)
        Softmax(dim=1)
        >>> resolve_head_activation(zoo.get_entry("slowfast_r50")) is None
        True
    """
    if name == FROM_CATALOG:
        name = entry.extra.get("head_activation")
        if name == "sigmoid" and num_classes not in (None, entry.num_classes):
            name = "softmax"
    if name is None:
        return None
    try:
        return HEAD_ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"{entry.name}: unknown head_activation {name!r}; known: {sorted(HEAD_ACTIVATIONS)}") from None


def build_slowfast(entry, num_classes: int | None = None, dropout: float = 0.5, head_activation: str | None = FROM_CATALOG) -> SlowFastNet:
    """SlowFast R50 / R101 for a catalogue entry; input ``[slow, fast]``.

    ``head_activation`` overrides the catalogue's (``None`` gives raw logits; the SSv2 and
    Charades entries otherwise return softmax / sigmoid scores averaged over positions, a
    Charades entry's head resized by ``num_classes`` softmax ones: :func:`resolve_head_activation`).

    Example:
        >>> import torch, zoo
        >>> model = zoo.create_model("slowfast_r50_8x8_charades")
        >>> scores = model([torch.zeros(1, 3, 2, 64, 64), torch.zeros(1, 3, 8, 64, 64)])
        >>> scores.shape, bool(((scores >= 0) & (scores <= 1)).all())
        (torch.Size([1, 157]), True)
    """
    params = slowfast_params(entry)
    blocks, width = slowfast_backbone_blocks(params)
    activation = resolve_head_activation(entry, head_activation, num_classes)
    blocks.append(PathwayPool(params.head_pool_kernels()))
    blocks.append(ClassificationHead(width, num_classes or entry.num_classes, pool_kernel=None, dropout=dropout, activation=activation))
    return SlowFastNet(blocks)


def build_slow_pyslowfast(entry, num_classes: int | None = None, dropout: float = 0.5, head_activation: str | None = FROM_CATALOG) -> VideoNet:
    """Slow R50 fine-tuned through PySlowFast (the SSv2 and Charades entries).

    The network is PyTorchVideo's Slow R50 (:func:`zoo.models.resnet.build_slow`); the head
    applies the entry's ``head_activation`` per position before averaging, as PySlowFast's
    ``PTVResNet`` wrapper does at test time.

    Example:
        >>> import torch, zoo
        >>> model = zoo.create_model("slow_r50_8x8_ssv2")
        >>> round(model(torch.zeros(1, 3, 4, 64, 64)).sum().item(), 4)  # softmax scores
        1.0
    """
    blocks, width = build_resnet_backbone("slow", entry.depth)
    pool_kernel = (entry.num_frames, TRAIN_CROP_SIZE // FEATURE_STRIDE, TRAIN_CROP_SIZE // FEATURE_STRIDE)
    activation = resolve_head_activation(entry, head_activation, num_classes)
    blocks.append(ClassificationHead(width, num_classes or entry.num_classes, pool_kernel, dropout, activation=activation))
    return VideoNet(blocks)

