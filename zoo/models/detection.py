"""AVA action detection: a Slow or SlowFast backbone plus an RoI head, scoring each given box.

The detectors are the classification backbones with res5 kept at spatial stride 1 and
dilated by 2, so the feature map is 1/16 of the input. The RoI head pools time away,
RoI-aligns each box (``torchvision.ops.roi_align``), max-pools the 7x7 grid, and
projects to 80 independent (sigmoid) action scores.

The module tree is that of the published files: the backbone under ``model.blocks.*`` and
the classifier at ``detection_head.proj.*``. Both ways these checkpoints are made share it:
the PyTorchVideo hub wraps ``(model, detection_head)`` exactly as PySlowFast's PyTorchVideo
wrappers (``PTVResNet`` / ``PTVSlowFast`` with ``DETECTION.ENABLE``, in
slowfast/models/ptv_model_builder.py) name the backbone ``self.model`` and the RoI head
``self.detection_head``; for detectors, the hub files carry the prefixes too.

One numerical difference between the two: the hub models use torchvision's RoIAlign with
``aligned=False``, PySlowFast's wrappers detectron2's ``ROIAlign`` (``aligned=True`` by
default). The builders follow the hub; ``roi_aligned=True`` gives the other convention.

Example:
    >>> import torch, zoo
    >>> model = zoo.create_model("slow_r50_detection")
    >>> clip = torch.zeros(1, 3, 4, 64, 64)
    >>> boxes = torch.tensor([[0.0, 8.0, 8.0, 40.0, 56.0]])  # [batch_index, x1, y1, x2, y2] in pixels
    >>> model(clip, boxes).shape
    torch.Size([1, 80])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchvision.ops import roi_align

from zoo.models.resnet import VideoNet, build_resnet_backbone

#: res2..res5 spatial strides and conv_b dilations of the detection backbones.
DETECTION_SPATIAL_STRIDES = (1, 2, 2, 1)
DETECTION_CONV_B_DILATIONS = ((1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 2, 2))
#: Feature stride of those backbones: stem 4, res3 2, res4 2 (res5 keeps resolution).
FEATURE_STRIDE = 16

#: The file layouts the detectors are published in. Both the PyTorchVideo hub files and
#: PySlowFast's PTV wrappers store ``model.`` (backbone) and ``detection_head.`` (RoI head);
#: declaring it (an identity mapping) lets a mismatch error name it as the detected layout.
PYSLOWFAST_DETECTION_LAYOUT = {"model.": "model.", "detection_head.": "detection_head."}


class TemporalPool(nn.Module):
    """Average over time (B, C, T, H, W) -> (B, C, H, W).

    The published heads use an average pool whose kernel is the whole clip length, which
    is this mean at the published input; taking the mean of any length also serves shorter
    test clips (where the fixed kernel would fail).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=2)


class PathwayTemporalPool(nn.Module):
    """SlowFast: average each pathway over time, then concatenate along channels."""

    def forward(self, pathways: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat([x.mean(dim=2) for x in pathways], dim=1)


class RoIHead(nn.Module):
    """Per-box scores from a (B, C, H, W) feature map and (K, 5) boxes.

    roi_align to a ``resolution`` grid (boxes in input pixels, scaled by ``spatial_scale``)
    -> max over the grid -> dropout -> linear -> sigmoid (AVA actions are multi-label).
    ``aligned`` is torchvision's half-pixel convention (``False`` in the published hub models).
    """

    def __init__(
        self,
        dim_in: int,
        num_classes: int,
        *,
        resolution: tuple[int, int] = (7, 7),
        spatial_scale: float = 1.0 / FEATURE_STRIDE,
        sampling_ratio: int = 0,
        dropout: float = 0.5,
        aligned: bool = False,
    ):
        super().__init__()
        self.resolution = tuple(resolution)
        self.aligned = aligned
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.proj = nn.Linear(dim_in, num_classes)
        self.activation = nn.Sigmoid()

    def forward(self, features: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        if boxes.ndim != 2 or boxes.shape[1] != 5:
            raise ValueError(f"boxes must be (K, 5) rows [batch_index, x1, y1, x2, y2], got shape {tuple(boxes.shape)}")
        # aligned=False by default: PyTorchVideo's hub models use torchvision's legacy RoIAlign
        # (no half-pixel shift); PySlowFast's wrappers pass detectron2's, aligned=True.
        regions = roi_align(
            features,
            boxes.to(features.dtype),
            output_size=self.resolution,
            spatial_scale=self.spatial_scale,
            sampling_ratio=self.sampling_ratio,
            aligned=self.aligned,
        )
        x = regions.amax(dim=(2, 3))  # the published head's MaxPool2d over the whole grid
        if self.dropout is not None:
            x = self.dropout(x)
        return self.activation(self.proj(x))


class DetectionNet(nn.Module):
    """``model(clip, boxes) -> (K, num_classes)``: backbone ``model``, RoI head ``detection_head``.

    ``clip`` is a (B, 3, T, H, W) tensor, or ``[slow, fast]`` for SlowFast; ``boxes`` holds
    (K, 5) rows ``[batch_index, x1, y1, x2, y2]`` in pixels of the input clip.
    """

    checkpoint_layouts = [PYSLOWFAST_DETECTION_LAYOUT]

    def __init__(self, model: nn.Module, detection_head: RoIHead):
        super().__init__()
        self.model = model
        self.detection_head = detection_head

    def forward(self, clip, boxes: torch.Tensor) -> torch.Tensor:
        return self.detection_head(self.model(clip), boxes)


def build_slow_detection(
    entry, num_classes: int | None = None, dropout: float = 0.5, roi_aligned: bool = False
) -> DetectionNet:
    """Slow R50 4x16 AVA detector (PyTorchVideo's ``slow_r50_detection``).

    Example:
        >>> import torch, zoo
        >>> net = zoo.create_model("slow_r50_4x16_ava")
        >>> net(torch.zeros(2, 3, 4, 64, 64), torch.tensor([[1.0, 0, 0, 63, 63]])).shape
        torch.Size([1, 80])

    ``num_classes``/``dropout`` size the head; ``roi_aligned`` selects RoIAlign's half-pixel
    convention (see the module docstring).
    """
    blocks, width = build_resnet_backbone(
        "slow", entry.depth, spatial_strides=DETECTION_SPATIAL_STRIDES, conv_b_dilations=DETECTION_CONV_B_DILATIONS
    )
    backbone = VideoNet([*blocks, TemporalPool()])
    return DetectionNet(backbone, RoIHead(width, num_classes or entry.num_classes, dropout=dropout, aligned=roi_aligned))


def build_slowfast_detection(
    entry, num_classes: int | None = None, dropout: float = 0.5, roi_aligned: bool = False
) -> DetectionNet:
    """SlowFast R50 8x8 AVA detector (PyTorchVideo's ``slowfast_r50_detection``), input ``[slow, fast]``.

    Example:
        >>> import torch, zoo
        >>> net = zoo.create_model("slowfast_r50_detection")
        >>> slow, fast = torch.zeros(1, 3, 2, 64, 64), torch.zeros(1, 3, 8, 64, 64)
        >>> net([slow, fast], torch.tensor([[0.0, 4, 4, 60, 60]])).shape
        torch.Size([1, 80])
    """
    from zoo.models.slowfast import slowfast_backbone_blocks

    blocks, width = slowfast_backbone_blocks(
        entry, spatial_strides=DETECTION_SPATIAL_STRIDES, conv_b_dilations=DETECTION_CONV_B_DILATIONS
    )
    backbone = VideoNet([*blocks, PathwayTemporalPool()])
    return DetectionNet(backbone, RoIHead(width, num_classes or entry.num_classes, dropout=dropout, aligned=roi_aligned))
