"""R(2+1)D: a ResNet whose 3x3x3 convolutions are factored into temporal then spatial ones.

Tran et al., "A Closer Look at Spatiotemporal Convolutions for Action Recognition", CVPR 2018.

Layout of the published checkpoint (``R2PLUS1D_16x4_R50.pyth``):

- ``blocks.0``: stem, a 1x7x7 convolution (spatial stride 2) without max pool
- ``blocks.1..4``: bottleneck stages; each ``branch2.conv_b`` is a :class:`Conv2plus1d`
  (``conv_t`` 3x1x1 -> ``norm`` -> ``act`` -> ``conv_xy`` 1x3x3), strided in time in stages
  3 and 4 and in space in every stage
- ``blocks.5``: classification head, which applies softmax per position before averaging

Example:
    >>> import torch, zoo
    >>> model = zoo.create_model("r2plus1d_r50")
    >>> model(torch.zeros(1, 3, 4, 64, 64)).shape
    torch.Size([1, 400])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from zoo.models.resnet import ClassificationHead, Stem, VideoNet, strided_conv_b_backbone

#: Per stage (temporal, spatial) stride of the first block's conv_b (and shortcut).
STAGE_STRIDES = ((1, 2), (1, 2), (2, 2), (2, 2))


class Conv2plus1d(nn.Module):
    """``conv_t`` -> optional ``norm`` -> optional ``activation`` -> ``conv_xy``.

    The attribute names are those of the published checkpoints. They usually hold a temporal
    (``conv_t``) and a spatial (``conv_xy``) convolution, but X3D's stem stores its spatial
    convolution under ``conv_t`` and runs it first, so the order here is by attribute, not by role.
    """

    def __init__(self, conv_t: nn.Module, conv_xy: nn.Module, norm: nn.Module | None = None, activation: nn.Module | None = None):
        super().__init__()
        self.conv_t = conv_t
        self.norm = norm
        self.activation = activation
        self.conv_xy = conv_xy

    @classmethod
    def factored(cls, dim_in: int, dim_out: int, kernel: Sequence[int], stride: Sequence[int]) -> "Conv2plus1d":
        """A (t, k, k) convolution as t x 1 x 1 -> BN -> ReLU -> 1 x k x k ('same' padding, no bias)."""
        t, kh, kw = kernel
        st, sh, sw = stride
        conv_t = nn.Conv3d(dim_in, dim_out, (t, 1, 1), stride=(st, 1, 1), padding=(t // 2, 0, 0), bias=False)
        conv_xy = nn.Conv3d(dim_out, dim_out, (1, kh, kw), stride=(1, sh, sw), padding=(0, kh // 2, kw // 2), bias=False)
        return cls(conv_t, conv_xy, norm=nn.BatchNorm3d(dim_out), activation=nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_t(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return self.conv_xy(x)


def build_r2plus1d(entry, num_classes: int | None = None, dropout: float = 0.5) -> VideoNet:
    """R(2+1)D R50 (PyTorchVideo hub ``r2plus1d_r50``), for ``entry``'s clip length.

    The head's pooling kernel spans the frames left after the temporal strides (16 / 4) and
    7x7 positions (the 224 training crop / 32); at larger crops it slides, at smaller inputs it
    is clipped to the input.
    """
    def factored(width: int, stride) -> nn.Module:
        return Conv2plus1d.factored(width, width, (3, 3, 3), stride)

    stem = Stem(3, 64, (1, 7, 7), pool=False)
    blocks, width, temporal_total = strided_conv_b_backbone(stem, entry.depth, STAGE_STRIDES, factored)
    pool_kernel = (entry.num_frames // temporal_total, 7, 7)
    blocks.append(
        ClassificationHead(width, num_classes or entry.num_classes, pool_kernel, dropout, activation=nn.Softmax(dim=1))
    )
    return VideoNet(blocks)
