"""The demo model: a narrow, shallow I3D built from the ResNet family's blocks.

Same topology as :func:`zoo.models.resnet.build_i3d` (inflated 5x7x7 stem, 3x1x1 temporal
kernels in the bottlenecks, temporal max-pool after stage 1, the classification head), but
with one block per stage and 1/8 of the widths, so that it trains in minutes on a CPU and its
checkpoint weighs well under a megabyte. It is the model of the ``demo`` dataset entry
(``zoo/catalog/demo.toml``), trained by ``benchmarks/demo/train.py``.

Example:
    >>> import torch, zoo
    >>> model = zoo.create_model("i3d_tiny_8x4_demo")
    >>> model(torch.zeros(2, 3, 8, 32, 32)).shape
    torch.Size([2, 5])
"""

from __future__ import annotations

from zoo.models.resnet import RESNET_VARIANTS, ClassificationHead, Stem, VideoNet, bottleneck_stage, head_temporal_size
from torch import nn

#: Blocks per stage and stem width of each demo depth (ResNet-50 is (3, 4, 6, 3) and 64).
DEMO_DEPTHS = {"tiny": dict(stage_depths=(1, 1, 1, 1), stem_width=8)}


def build_demo(entry, num_classes: int | None = None, dropout: float = 0.2, variant: str = "i3d") -> VideoNet:
    """A small ResNet-family video network for the entry's clip (I3D topology by default)."""
    spec = RESNET_VARIANTS[variant]
    depth = DEMO_DEPTHS[entry.depth]
    width = depth["stem_width"]
    blocks: list[nn.Module] = [Stem(3, width, spec["stem_kernel"])]
    dim_in, dim_out = width, width * 4
    for idx, n_blocks in enumerate(depth["stage_depths"]):
        blocks.append(
            bottleneck_stage(
                n_blocks, dim_in, dim_out // 4, dim_out, conv_a_kernels=spec["conv_a"][idx], spatial_stride=1 if idx == 0 else 2
            )
        )
        if idx == 0 and spec["stage1_pool"]:
            blocks.append(nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1)))
        dim_in, dim_out = dim_out, dim_out * 2
    # total spatial stride 32, as in the full-size networks: the head pools what is left
    pool_kernel = (head_temporal_size(variant, entry.num_frames), entry.crop_size // 32, entry.crop_size // 32)
    blocks.append(ClassificationHead(dim_in, num_classes or entry.num_classes, pool_kernel, dropout))
    return VideoNet(blocks)
