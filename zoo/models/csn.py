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

from zoo.models.resnet import ClassificationHead, Stem, VideoNet, conv3d, strided_conv_b_backbone

#: Per stage (temporal, spatial) stride of the first block's conv_b (and shortcut): from
#: stage 2 on, every stage halves time as well as space.
STAGE_STRIDES = ((1, 1), (2, 2), (2, 2), (2, 2))


def build_csn(entry, num_classes: int | None = None, dropout: float = 0.0) -> VideoNet:
    """ir-CSN R101 (PyTorchVideo hub ``csn_r101``), for ``entry``'s clip length.

    The head's pooling kernel spans the frames left after the temporal strides (32 / 8) and
    7x7 positions (the 224 training crop / 32); at larger crops it slides, at smaller inputs it
    is clipped to the input.
    """
    def depthwise(width: int, stride) -> nn.Module:
        return conv3d(width, width, (3, 3, 3), stride=stride, groups=width)

    stem = Stem(3, 64, (3, 7, 7), pool=True)
    blocks, width, temporal_total = strided_conv_b_backbone(stem, entry.depth, STAGE_STRIDES, depthwise)
    pool_kernel = (entry.num_frames // temporal_total, 7, 7)
    blocks.append(ClassificationHead(width, num_classes or entry.num_classes, pool_kernel, dropout))
    return VideoNet(blocks)
