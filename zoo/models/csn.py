"""CSN: channel-separated networks (ir-CSN), a ResNet whose 3x3x3 convolutions are depthwise.

Tran et al., "Video Classification with Channel-Separated Convolutional Networks", ICCV 2019.

Layout of the published checkpoint (``CSN_32x2_R101.pyth``):

- ``blocks.0``: stem, a 3x7x7 convolution and a 1x3x3 max pool
- ``blocks.1..4``: bottleneck stages whose ``branch2.conv_b`` is a depthwise 3x3x3 convolution
  (one group per channel) carrying the block's temporal and spatial stride
- ``blocks.5``: classification head (no dropout, no softmax)

Example:
    >>> import torch, zoo
    >>> model = zoo.create_model("csn_r101")
    >>> model(torch.zeros(1, 3, 8, 64, 64)).shape
    torch.Size([1, 400])
"""

from __future__ import annotations

from torch import nn

from zoo.models.resnet import STAGE_DEPTHS, Bottleneck, ClassificationHead, ResBlock, ResStage, Stem, VideoNet, conv3d

#: Per stage (temporal, spatial) stride of the first block's conv_b (and shortcut): from
#: stage 2 on, every stage halves time as well as space.
STAGE_STRIDES = ((1, 1), (2, 2), (2, 2), (2, 2))


def _stage(depth: int, dim_in: int, dim_out: int, temporal_stride: int, spatial_stride: int) -> ResStage:
    dim_inner = dim_out // 4
    blocks = []
    for i in range(depth):
        stride = (temporal_stride, spatial_stride, spatial_stride) if i == 0 else (1, 1, 1)
        block_in = dim_in if i == 0 else dim_out
        depthwise = conv3d(dim_inner, dim_inner, (3, 3, 3), stride=stride, groups=dim_inner)
        branch2 = Bottleneck(block_in, dim_inner, dim_out, conv_a_kernel=(1, 1, 1), conv_b=depthwise)
        blocks.append(ResBlock(block_in, dim_out, branch2, stride=stride))
    return ResStage(blocks)


def build_csn(entry, num_classes: int | None = None, dropout: float = 0.0) -> VideoNet:
    """ir-CSN R101 (PyTorchVideo hub ``csn_r101``), for ``entry``'s clip length.

    The head's pooling kernel spans the frames left after the temporal strides (32 / 8) and
    7x7 positions (the 224 training crop / 32); at larger crops it slides, at smaller inputs it
    is clipped to the input.
    """
    blocks: list[nn.Module] = [Stem(3, 64, (3, 7, 7), pool=True)]
    dim_in, dim_out = 64, 256
    temporal_total = 1
    for n_blocks, (t_stride, s_stride) in zip(STAGE_DEPTHS[entry.depth], STAGE_STRIDES):
        blocks.append(_stage(n_blocks, dim_in, dim_out, t_stride, s_stride))
        dim_in, dim_out = dim_out, dim_out * 2
        temporal_total *= t_stride
    pool_kernel = (entry.num_frames // temporal_total, 7, 7)
    blocks.append(ClassificationHead(dim_in, num_classes or entry.num_classes, pool_kernel, dropout))
    return VideoNet(blocks)
