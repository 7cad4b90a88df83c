"""Multiscale Vision Transformers (MViT-B 16x4 and 32x3, Fan et al. 2021).

MViT is a transformer whose token grid shrinks and whose width grows from stage to stage:
queries are pooled (a strided depthwise 3D convolution) where a stage starts, keys and
values are pooled in every block so attention stays cheap on the large early grids.

The published checkpoints name parameters by module path; the modules here are laid out so
that ``state_dict()`` has exactly those keys:

- ``patch_embed.patch_model``: the 3x7x7 convolution that cuts the clip into patches
- ``cls_positional_encoding``: ``cls_token`` and the *separate* positional embeddings
  ``pos_embed_spatial`` (one per patch of a frame), ``pos_embed_temporal`` (one per patch
  time step) and ``pos_embed_class`` (for the cls token)
- ``blocks.<i>``: :class:`MultiscaleBlock` (``norm1``, ``attn`` = :class:`MultiscaleAttention`
  with ``q/k/v/proj`` and ``pool_{q,k,v}``/``norm_{q,k,v}``, ``norm2``, ``mlp.fc1/fc2`` and
  ``proj`` where the width changes)
- ``norm_embed`` and ``head.proj`` (the classifier on the cls token)

Example:
    >>> import torch, zoo
    >>> model = zoo.create_model("mvit_b_16x4_kinetics400", num_frames=4, crop_size=32)
    >>> model(torch.zeros(1, 3, 4, 32, 32)).shape
    torch.Size([1, 400])
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import StochasticDepth

Triple = tuple[int, int, int]

#: The transformer blocks use LayerNorm with eps 1e-6; the norms after Q/K/V pooling were
#: trained with PyTorch's default eps (1e-5). Both matter for matching the published outputs.
BLOCK_NORM_EPS = 1e-6
POOL_NORM_EPS = 1e-5


@dataclass(frozen=True)
class MViTConfig:
    """Architecture of an MViT network; :data:`MVIT_CONFIGS` holds the published ones.

    Stage boundaries are given as ``{block index: value}`` maps, as in the paper's tables:
    at each listed block the width (``dim_mul``) and number of heads (``head_mul``) are
    multiplied and queries are pooled with stride ``q_stride`` (which also halves the
    skip connection's grid). Keys and values are pooled in every block, starting at stride
    ``kv_stride`` and dividing it by each query stride, so K/V always reach the same grid.
    """

    embed_dim: int = 96
    depth: int = 16
    num_heads: int = 1
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    patch_kernel: Triple = (3, 7, 7)
    patch_stride: Triple = (2, 4, 4)
    patch_padding: Triple = (1, 3, 3)
    dim_mul: Mapping[int, float] = field(default_factory=lambda: {1: 2.0, 3: 2.0, 14: 2.0})
    head_mul: Mapping[int, float] = field(default_factory=lambda: {1: 2.0, 3: 2.0, 14: 2.0})
    q_stride: Mapping[int, Triple] = field(default_factory=lambda: {1: (1, 2, 2), 3: (1, 2, 2), 14: (1, 2, 2)})
    kv_stride: Triple = (1, 8, 8)
    pool_kernel: Triple = (3, 3, 3)
    dropout: float = 0.5
    # Stochastic depth in training (MVIT.DROPPATH_RATE of MVIT_B_16x4_CONV.yaml: 0.2): block i
    # drops its two branches per sample with probability linspace(0, drop_path, depth)[i], as
    # PySlowFast's MViT; no weights, nothing at test time. MVIT_B_32x3_CONV.yaml says 0.3, but
    # it describes a 24-block MViT-B (DEPTH 24, pooling at blocks 2, 5 and 21), not the 16-block
    # model the published 32x3 checkpoint holds, so 32x3 keeps the 16-block model's rate.
    drop_path: float = 0.2


#: Published MViT architectures by catalogue ``depth``. 16x4 and 32x3 share MViT-B; only the
#: clip (and hence the temporal positional embedding) differs.
MVIT_CONFIGS: dict[str, MViTConfig] = {"b": MViTConfig()}


@dataclass(frozen=True)
class BlockPlan:
    """What one block does: widths, heads and pooling strides."""

    dim: int
    dim_out: int
    num_heads: int
    q_stride: Triple | None
    kv_stride: Triple


def _multiple_of(width: float, divisor: int) -> int:
    """Round ``width`` to the nearest multiple of ``divisor`` (never more than 10% below).

    The published widths (96 -> 192 -> 384 -> 768) are exact products; the rounding only
    matters for custom multipliers, where it keeps the width divisible by the head count.
    """
    rounded = max(divisor, int(width + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * width:
        rounded += divisor
    return int(rounded)


def plan_blocks(config: MViTConfig) -> list[BlockPlan]:
    """Per-block widths, heads and strides of ``config``.

    Example:
        >>> [(p.dim, p.dim_out, p.num_heads) for p in plan_blocks(MVIT_CONFIGS["b"])][:4]
        [(96, 192, 1), (192, 192, 2), (192, 384, 2), (384, 384, 4)]
    """
    plans = []
    dim, heads, kv_stride = config.embed_dim, config.num_heads, tuple(config.kv_stride)
    for i in range(config.depth):
        heads = max(1, int(heads * config.head_mul.get(i, 1.0) + 0.5))
        dim = _multiple_of(dim * config.dim_mul.get(i, 1.0), heads)
        # A block widens its output to the *next* block's width (via mlp.fc2 and proj).
        next_heads = max(1, int(heads * config.head_mul.get(i + 1, 1.0) + 0.5))
        dim_out = _multiple_of(dim * config.dim_mul.get(i + 1, 1.0), next_heads)
        q_stride = tuple(config.q_stride[i]) if i in config.q_stride else None
        if q_stride is not None:
            kv_stride = tuple(max(s // q, 1) for s, q in zip(kv_stride, q_stride))
        plans.append(BlockPlan(dim, dim_out, heads, q_stride, kv_stride))  # type: ignore[arg-type]
    return plans


def _pool_tokens(tokens: torch.Tensor, pool: nn.Module, grid: Sequence[int], norm: nn.Module | None = None):
    """Pool a (B, heads, 1 + T*H*W, C) token tensor over its T x H x W grid; the cls token passes.

    Returns the pooled tokens and the new grid.
    """
    batch, heads, _, channels = tokens.shape
    cls_token, patches = tokens[:, :, :1], tokens[:, :, 1:]
    patches = patches.reshape(batch * heads, *grid, channels).permute(0, 4, 1, 2, 3)
    patches = pool(patches)
    new_grid = patches.shape[2:]
    patches = patches.reshape(batch, heads, channels, -1).transpose(2, 3)
    tokens = torch.cat((cls_token, patches), dim=2)
    if norm is not None:
        tokens = norm(tokens)
    return tokens, list(new_grid)


def _depthwise_pool(head_dim: int, kernel: Sequence[int], stride: Sequence[int]) -> nn.Conv3d:
    """The learned pooling: a depthwise conv shared by all heads, 'same' padding."""
    return nn.Conv3d(
        head_dim, head_dim, tuple(kernel), stride=tuple(stride), padding=tuple(k // 2 for k in kernel), groups=head_dim, bias=False
    )


class MultiscaleAttention(nn.Module):
    """Multi-head self-attention with pooled queries, keys and values.

    Q, K, V are projected from the tokens, pooled per head (strided depthwise conv + norm),
    then attended with :func:`torch.nn.functional.scaled_dot_product_attention`
    (``softmax(q k^T / sqrt(head_dim)) v``). The output has the query's (pooled) grid.
    """

    def __init__(self, dim: int, num_heads: int, q_stride: Sequence[int] | None, kv_stride: Sequence[int], kernel: Sequence[int], qkv_bias: bool = True):
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.k = nn.Linear(dim, dim, bias=qkv_bias)
        self.v = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        # Pool Q only where a stage starts; K/V in every block (kernel 3 at stride 1 still
        # mixes neighbours, and the published blocks carry those weights).
        if q_stride is not None:
            self.pool_q = _depthwise_pool(head_dim, kernel, q_stride)
            self.norm_q = nn.LayerNorm(head_dim, eps=POOL_NORM_EPS)
        else:
            self.pool_q = self.norm_q = None
        if math.prod(kernel) > 1 or math.prod(kv_stride) > 1:
            self.pool_k = _depthwise_pool(head_dim, kernel, kv_stride)
            self.norm_k = nn.LayerNorm(head_dim, eps=POOL_NORM_EPS)
            self.pool_v = _depthwise_pool(head_dim, kernel, kv_stride)
            self.norm_v = nn.LayerNorm(head_dim, eps=POOL_NORM_EPS)
        else:
            self.pool_k = self.norm_k = self.pool_v = self.norm_v = None

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        return x.reshape(batch, tokens, self.num_heads, dim // self.num_heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, grid: Sequence[int]) -> tuple[torch.Tensor, list[int]]:
        q, k, v = self._heads(self.q(x)), self._heads(self.k(x)), self._heads(self.v(x))
        q_grid = list(grid)
        if self.pool_q is not None:
            q, q_grid = _pool_tokens(q, self.pool_q, grid, self.norm_q)
        if self.pool_k is not None:
            k, _ = _pool_tokens(k, self.pool_k, grid, self.norm_k)
            v, _ = _pool_tokens(v, self.pool_v, grid, self.norm_v)
        out = F.scaled_dot_product_attention(q, k, v)
        batch, heads, tokens, head_dim = out.shape
        out = out.transpose(1, 2).reshape(batch, tokens, heads * head_dim)
        return self.proj(out), q_grid


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2; fc2 may widen to the next stage's width."""

    def __init__(self, dim: int, hidden: int, dim_out: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class MultiscaleBlock(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then y + mlp(norm2(y)).

    Where queries are pooled the residual is max-pooled to the same grid; where the width
    grows, the residual of the MLP branch is ``proj(norm2(y))`` instead of ``y``.
    """

    def __init__(self, plan: BlockPlan, config: MViTConfig, drop_path: float = 0.0):
        super().__init__()
        dim, dim_out = plan.dim, plan.dim_out
        self.drop_path = StochasticDepth(drop_path, "row") if drop_path > 0 else nn.Identity()
        self.norm1 = nn.LayerNorm(dim, eps=BLOCK_NORM_EPS)
        self.attn = MultiscaleAttention(dim, plan.num_heads, plan.q_stride, plan.kv_stride, config.pool_kernel, config.qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=BLOCK_NORM_EPS)
        self.mlp = Mlp(dim, int(dim * config.mlp_ratio), dim_out)
        self.proj = nn.Linear(dim, dim_out) if dim != dim_out else None
        if plan.q_stride is not None and any(s > 1 for s in plan.q_stride):
            kernel = [s + 1 if s > 1 else s for s in plan.q_stride]
            self.pool_skip = nn.MaxPool3d(kernel, plan.q_stride, [k // 2 for k in kernel])
        else:
            self.pool_skip = None

    def forward(self, x: torch.Tensor, grid: Sequence[int]) -> tuple[torch.Tensor, list[int]]:
        attended, new_grid = self.attn(self.norm1(x), grid)
        if self.pool_skip is not None:
            x = _pool_tokens(x.unsqueeze(1), self.pool_skip, grid)[0].squeeze(1)
        x = x + self.drop_path(attended)
        normed = self.norm2(x)
        shortcut = self.proj(normed) if self.proj is not None else x
        return shortcut + self.drop_path(self.mlp(normed)), new_grid


class PatchEmbed(nn.Module):
    """Conv3d patchify -> (B, T*H*W, C) tokens."""

    def __init__(self, config: MViTConfig):
        super().__init__()
        self.patch_model = nn.Conv3d(
            3, config.embed_dim, config.patch_kernel, stride=config.patch_stride, padding=config.patch_padding
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        x = self.patch_model(x)
        return x.flatten(2).transpose(1, 2), list(x.shape[2:])


class ClsPositionalEncoding(nn.Module):
    """Prepend the cls token and add separable space-time positional embeddings.

    Patch (t, s) gets ``pos_embed_temporal[t] + pos_embed_spatial[s]``; the cls token gets
    ``pos_embed_class``. The embeddings are sized for the training clip, so the input must
    produce exactly ``grid`` patches.
    """

    def __init__(self, dim: int, grid: Sequence[int]):
        super().__init__()
        self.grid = tuple(grid)
        time, height, width = self.grid
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed_spatial = nn.Parameter(torch.zeros(1, height * width, dim))
        self.pos_embed_temporal = nn.Parameter(torch.zeros(1, time, dim))
        self.pos_embed_class = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: torch.Tensor, grid: Sequence[int]) -> torch.Tensor:
        if tuple(grid) != self.grid:
            raise ValueError(
                f"MViT positional embeddings are sized for a {self.grid[0]}x{self.grid[1]}x{self.grid[2]} patch grid "
                f"(T x H x W) but the input gives {grid[0]}x{grid[1]}x{grid[2]}: feed the clip size the model was "
                "built for (num_frames x crop_size), or build with num_frames=/crop_size= overrides"
            )
        batch, _, dim = x.shape
        patches = (self.pos_embed_temporal[:, :, None, :] + self.pos_embed_spatial[:, None, :, :]).reshape(1, -1, dim)
        pos_embed = torch.cat((self.pos_embed_class, patches), dim=1)
        return torch.cat((self.cls_token.expand(batch, -1, -1), x), dim=1) + pos_embed


class VitHead(nn.Module):
    """cls token -> dropout -> linear classifier."""

    def __init__(self, dim: int, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.proj = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, 0]
        if self.dropout is not None:
            x = self.dropout(x)
        return self.proj(x)


class MViT(nn.Module):
    """Patch embedding -> cls + positional embedding -> multiscale blocks -> norm -> head.

    Input: a (B, 3, T, H, W) clip of the size the model was built for; output: (B, classes) logits.
    """

    def __init__(self, config: MViTConfig, num_frames: int, crop_size: int, num_classes: int):
        super().__init__()
        self.config = config
        self.patch_embed = PatchEmbed(config)
        grid = [n // s for n, s in zip((num_frames, crop_size, crop_size), config.patch_stride)]
        self.cls_positional_encoding = ClsPositionalEncoding(config.embed_dim, grid)
        plans = plan_blocks(config)
        rates = [config.drop_path * i / max(1, len(plans) - 1) for i in range(len(plans))]  # linspace(0, rate, depth)
        self.blocks = nn.ModuleList(MultiscaleBlock(plan, config, rate) for plan, rate in zip(plans, rates))
        self.norm_embed = nn.LayerNorm(plans[-1].dim_out, eps=BLOCK_NORM_EPS)
        self.head = VitHead(plans[-1].dim_out, num_classes, config.dropout)
        self._init_weights()

    def _init_weights(self) -> None:
        # The published training recipe's initialisation (only matters for training from scratch).
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for param in self.cls_positional_encoding.parameters():
            nn.init.trunc_normal_(param, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, grid = self.patch_embed(x)
        x = self.cls_positional_encoding(x, grid)
        for block in self.blocks:
            x, grid = block(x, grid)
        return self.head(self.norm_embed(x))


def _config_with(base: MViTConfig, overrides: Mapping[str, object]) -> MViTConfig:
    names = {f.name for f in dataclasses.fields(MViTConfig)}
    unknown = [k for k in overrides if k not in names]
    if unknown:
        hints = {k: difflib.get_close_matches(k, names | {"num_classes", "num_frames", "crop_size"}, n=2) for k in unknown}
        detail = "; ".join(f"{k!r}" + (f" (did you mean {', '.join(v)}?)" if v else "") for k, v in hints.items())
        raise TypeError(f"build_mvit: unknown override {detail}; valid: num_classes, num_frames, crop_size, {', '.join(sorted(names))}")
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def build_mvit(entry, *, num_classes: int | None = None, num_frames: int | None = None, crop_size: int | None = None, **arch) -> MViT:
    """MViT for a catalogue entry (``depth`` picks the architecture, e.g. ``"b"``).

    ``num_frames``/``crop_size`` change the clip the positional embeddings are sized for
    (the published weights fit only the entry's own); other keyword arguments replace
    :class:`MViTConfig` fields (e.g. ``embed_dim=32, depth=4`` for a tiny network).

    Example:
        >>> import zoo
        >>> round(sum(p.numel() for p in zoo.create_model("mvit_base_32x3").parameters()) / 1e6, 2)
        36.61
    """
    try:
        base = MVIT_CONFIGS[entry.depth]
    except KeyError:
        raise ValueError(f"{entry.name}: no MViT architecture for depth {entry.depth!r}; known: {sorted(MVIT_CONFIGS)}") from None
    config = _config_with(base, arch)
    return MViT(
        config,
        num_frames=num_frames or entry.num_frames,
        crop_size=crop_size or entry.crop_size,
        num_classes=num_classes or entry.num_classes,
    )
