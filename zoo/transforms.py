"""Test-time input of a zoo entry: which frames, which crops, which tensors.

A published accuracy is only reproducible with the published test protocol. This module
holds that protocol for one entry, as an :class:`InputSpec` built from the catalogue
(:meth:`InputSpec.from_entry`), and turns decoded frames into the model's input views:

- **Temporal** (``"clips"``, the Kinetics/Charades rule of PySlowFast's test loader): a clip
  spans ``num_frames x sampling_rate`` frames at a target of 30 fps, i.e.
  ``num_frames * sampling_rate / 30 * fps`` frames of the file. ``N`` clips are spaced
  uniformly: with ``slack = max(video_frames - span, 0)``, clip ``i`` starts at
  ``i * floor(slack / (N - 1))``; a single clip starts at ``floor(slack / 2)`` (centred).
  The ``num_frames`` indices are ``linspace(start, start + span - 1, num_frames)``, clamped to
  the video (a video shorter than the clip repeats its last frame) and truncated to integers.
  ``"segments"`` (Something-Something V2, as PySlowFast/PyTorchVideo test it) instead splits
  the whole video into ``num_frames`` equal segments and takes the middle frame of each.
- **Spatial**: the short side is scaled to ``side_size`` (bilinear, no antialiasing, the long
  side ``floor(long / short * side_size)``), then ``spatial_crops`` squares of ``crop_size``:
  3 = start/centre/end along the long side, 1 = centre (PySlowFast's ``uniform_crop``; the
  centre offset is ``ceil((long - crop) / 2)``).
- **Normalisation**: pixels in [0, 1], then ``(x - mean) / std`` per channel.
- **Pathways**: SlowFast entries get ``[slow, fast]``: fast is the whole clip, slow takes
  ``num_frames // alpha`` frames at ``linspace(0, num_frames - 1, num_frames // alpha)``.

Views are ordered clip-major: view ``v`` is temporal clip ``v // spatial_crops`` and spatial
crop ``v % spatial_crops``. Every model in the zoo takes a ``(B, 3, T, H, W)`` tensor, except
SlowFast, which takes the list ``[slow, fast]`` of two such tensors.

Example (a hub user preparing a decoded video for a model):
    >>> import torch, zoo
    >>> from zoo.transforms import InputSpec
    >>> spec = InputSpec.from_entry(zoo.get_entry("x3d_xs"), views="2x3")
    >>> frames = torch.randint(0, 256, (90, 120, 160, 3), dtype=torch.uint8)  # (T, H, W, C), 3 s at 30 fps
    >>> views = spec.views(frames, fps=30.0)
    >>> views.shape  # clips x crops views of (C, T, crop, crop)
    torch.Size([6, 3, 4, 182, 182])
    >>> spec.clip_indices(90, fps=30.0)[0].tolist()  # 4 frames x 12 at 30 fps, first of 2 clips
    [0, 15, 31, 47]

With real weights: ``model = zoo.create_model("x3d_xs", pretrained=True)``, then
``probs = model(views).mean(0)`` (X3D's head already applies softmax).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch.nn import functional as F

#: The frame rate the published ``sampling_rate`` refers to (PySlowFast ``DATA.TARGET_FPS``).
TARGET_FPS = 30.0

#: Temporal sampling rules: ``"clips"`` (uniformly spaced fixed-span clips) or ``"segments"``.
TEMPORAL_RULES = ("clips", "segments")

#: Datasets whose reference test loader samples segments over the whole video.
_SEGMENT_DATASETS = ("ssv2",)


def parse_views(views: str | tuple[int, int]) -> tuple[int, int]:
    """Parse ``"CLIPSxCROPS"`` (e.g. ``"10x3"``) into ``(temporal_clips, spatial_crops)``.

    Example:
        >>> parse_views("10x3")
        (10, 3)
    """
    if isinstance(views, tuple):
        clips, crops = views
    else:
        parts = str(views).lower().replace(" ", "").split("x")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"views must look like CLIPSxCROPS, e.g. 10x3; got {views!r}")
        clips, crops = int(parts[0]), int(parts[1])
    if clips < 1 or crops not in (1, 2, 3):
        raise ValueError(f"views need at least 1 temporal clip and 1, 2 or 3 spatial crops; got {clips}x{crops}")
    return clips, crops


@dataclass(frozen=True)
class InputSpec:
    """The test-time input of one entry (see the module docstring for the rules).

    ``num_frames``/``sampling_rate`` describe the decoded clip (for SlowFast, the fast
    pathway); ``alpha`` (SlowFast only) is the fast/slow frame ratio.
    """

    num_frames: int
    sampling_rate: int
    side_size: int
    crop_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    temporal_clips: int = 1
    spatial_crops: int = 1
    alpha: int | None = None
    temporal_rule: str = "clips"
    target_fps: float = TARGET_FPS

    def __post_init__(self):
        if self.temporal_rule not in TEMPORAL_RULES:
            raise ValueError(f"temporal_rule must be one of {TEMPORAL_RULES}, got {self.temporal_rule!r}")

    @classmethod
    def from_entry(cls, entry, views: str | tuple[int, int] | None = None) -> "InputSpec":
        """The spec of a :class:`zoo.ZooEntry`; ``views`` (``"CLIPSxCROPS"``) overrides the catalogue's.

        The temporal rule comes from the entry's ``temporal_rule`` catalogue field when set,
        else ``"segments"`` for Something-Something V2 and ``"clips"`` otherwise.
        """
        clips, crops = parse_views(views) if views is not None else (entry.temporal_clips, entry.spatial_crops)
        extra = getattr(entry, "extra", {}) or {}
        rule = extra.get("temporal_rule") or ("segments" if entry.dataset in _SEGMENT_DATASETS else "clips")
        return cls(
            num_frames=entry.num_frames,
            sampling_rate=entry.sampling_rate,
            side_size=entry.side_size,
            crop_size=entry.crop_size,
            mean=tuple(entry.mean),
            std=tuple(entry.std),
            temporal_clips=clips,
            spatial_crops=crops,
            alpha=entry.alpha if entry.arch == "slowfast" else None,
            temporal_rule=rule,
        )

    def with_views(self, views: str | tuple[int, int]) -> "InputSpec":
        """A copy with other views (``"CLIPSxCROPS"``)."""
        clips, crops = parse_views(views)
        return replace(self, temporal_clips=clips, spatial_crops=crops)

    @property
    def num_views(self) -> int:
        return self.temporal_clips * self.spatial_crops

    @property
    def views_label(self) -> str:
        """``"CLIPSxCROPS"``, the form ``--views`` takes."""
        return f"{self.temporal_clips}x{self.spatial_crops}"

    def clip_span(self, fps: float) -> float:
        """Frames of a file at ``fps`` covered by one clip (may be fractional)."""
        return self.num_frames * self.sampling_rate / self.target_fps * fps

    def clip_indices(self, video_frames: int, fps: float) -> list[torch.Tensor]:
        """Frame indices of every temporal clip, one ``LongTensor(num_frames)`` per clip."""
        if video_frames < 1:
            raise ValueError("a video needs at least one frame")
        if self.temporal_rule == "segments":
            return [segment_indices(video_frames, self.num_frames)] * self.temporal_clips
        return [
            clip_indices(video_frames, self.clip_span(fps), self.num_frames, i, self.temporal_clips)
            for i in range(self.temporal_clips)
        ]

    def views(self, frames: torch.Tensor, fps: float):
        """Every view of a decoded video.

        ``frames``: uint8 ``(T, H, W, C)`` RGB, the whole video (what PyAV/torchvision decode).
        Returns ``(V, C, T, crop, crop)`` float32, or ``[slow, fast]`` for SlowFast.
        """
        return self.views_from_indices(frames, self.clip_indices(frames.shape[0], fps))

    def views_from_indices(self, frames: torch.Tensor, indices: Sequence[torch.Tensor], rows: dict[int, int] | None = None):
        """Views from ``frames`` given each clip's frame ``indices``.

        ``rows`` maps a frame index to its row in ``frames`` (identity when omitted), so a
        decoder can pass only the frames it kept.
        """
        wanted = sorted({int(i) for clip in indices for i in clip})
        row_of = (lambda i: i) if rows is None else rows.__getitem__
        unique = frames[torch.tensor([row_of(i) for i in wanted], dtype=torch.long)]
        # Scale each distinct frame once: clips overlap, and scaling is the costly step.
        scaled = short_side_scale(to_float_chw(unique), self.side_size)
        position = {frame: k for k, frame in enumerate(wanted)}
        clips = [scaled[torch.tensor([position[int(i)] for i in clip])] for clip in indices]  # (T, C, H, W)
        views = []
        for clip in clips:
            for crop_index in crop_positions(self.spatial_crops):
                views.append(uniform_crop(clip, self.crop_size, crop_index))
        batch = torch.stack(views).permute(0, 2, 1, 3, 4)  # (V, C, T, H, W)
        batch = normalize(batch, self.mean, self.std)
        if self.alpha:
            return pack_pathways(batch, self.alpha)
        return batch


def clip_indices(video_frames: int, span: float, num_frames: int, clip_index: int, num_clips: int) -> torch.Tensor:
    """Indices of clip ``clip_index`` of ``num_clips`` uniformly spaced clips of ``span`` frames.

    Example (100 frames at 30 fps, 4 frames x 5, three clips):
        >>> [clip_indices(100, 20.0, 4, i, 3).tolist() for i in range(3)]
        [[0, 6, 12, 19], [40, 46, 52, 59], [80, 86, 92, 99]]
    """
    slack = max(video_frames - span, 0.0)
    if num_clips == 1:
        start = math.floor(slack / 2)
    else:
        start = clip_index * math.floor(slack / (num_clips - 1))
    positions = torch.linspace(start, start + span - 1, num_frames)
    return positions.clamp(0, video_frames - 1).long()


def segment_indices(video_frames: int, num_frames: int) -> torch.Tensor:
    """Middle frame of each of ``num_frames`` equal segments (the SSv2 test rule).

    Example:
        >>> segment_indices(50, 4).tolist()
        [6, 18, 30, 43]
    """
    seg = (video_frames - 1) / num_frames
    out = []
    for i in range(num_frames):
        start, end = int(round(seg * i)), int(round(seg * (i + 1)))
        out.append((start + end) // 2)
    return torch.tensor(out, dtype=torch.long)


def to_float_chw(frames: torch.Tensor) -> torch.Tensor:
    """uint8 ``(T, H, W, C)`` -> float32 ``(T, C, H, W)`` in [0, 1]."""
    return frames.permute(0, 3, 1, 2).float().div_(255.0)


def scaled_size(height: int, width: int, size: int) -> tuple[int, int]:
    """``(height, width)`` after scaling the short side to ``size`` (long side floored)."""
    if width < height:
        return int(math.floor(height / width * size)), size
    return size, int(math.floor(width / height * size))


def short_side_scale(frames: torch.Tensor, size: int) -> torch.Tensor:
    """Scale float ``(..., H, W)`` frames so the short side is ``size`` (bilinear, no antialias).

    Frames whose short side is already ``size`` are returned unchanged, as in the reference.
    """
    height, width = frames.shape[-2:]
    if min(height, width) == size:
        return frames
    new_h, new_w = scaled_size(height, width, size)
    flat = frames.reshape(-1, *frames.shape[-3:]) if frames.dim() > 3 else frames[None]
    out = F.interpolate(flat, size=(new_h, new_w), mode="bilinear", align_corners=False)
    return out.reshape(*frames.shape[:-2], new_h, new_w)


def crop_positions(num_crops: int) -> tuple[int, ...]:
    """Crop indices used for ``num_crops`` views: 1 -> centre (1); 2 -> start, end; 3 -> 0, 1, 2."""
    return {1: (1,), 2: (0, 2), 3: (0, 1, 2)}[num_crops]


def crop_offset(height: int, width: int, size: int, index: int) -> tuple[int, int]:
    """``(y, x)`` of square crop ``index`` (0 start, 1 centre, 2 end) along the long side.

    Example (a 42-wide, 32-high frame, crop 32):
        >>> [crop_offset(32, 42, 32, i) for i in range(3)]
        [(0, 0), (0, 5), (0, 10)]
    """
    y = int(math.ceil((height - size) / 2))
    x = int(math.ceil((width - size) / 2))
    if height > width:
        y = {0: 0, 1: y, 2: height - size}[index]
    else:
        x = {0: 0, 1: x, 2: width - size}[index]
    return y, x


def uniform_crop(frames: torch.Tensor, size: int, index: int) -> torch.Tensor:
    """Square crop ``index`` (0 start, 1 centre, 2 end along the long side) of ``(..., H, W)``."""
    height, width = frames.shape[-2:]
    if min(height, width) < size:
        raise ValueError(f"frames of {height}x{width} are smaller than the crop size {size}")
    y, x = crop_offset(height, width, size, index)
    return frames[..., y : y + size, x : x + size]


def normalize(views: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(x - mean) / std`` over the channel axis of ``(V, C, T, H, W)`` (in place)."""
    shape = (1, -1, 1, 1, 1)
    mean_t = torch.tensor(mean, dtype=views.dtype).view(shape)
    std_t = torch.tensor(std, dtype=views.dtype).view(shape)
    return views.sub_(mean_t).div_(std_t)


def slow_indices(num_frames: int, alpha: int) -> torch.Tensor:
    """Fast-pathway frames kept by the slow pathway.

    Example:
        >>> slow_indices(32, 4).tolist()
        [0, 4, 8, 13, 17, 22, 26, 31]
    """
    return torch.linspace(0, num_frames - 1, num_frames // alpha).long()


def pack_pathways(views: torch.Tensor, alpha: int) -> list[torch.Tensor]:
    """``(V, C, T, H, W)`` -> ``[slow, fast]``; slow keeps ``T // alpha`` frames (:func:`slow_indices`)."""
    slow = views.index_select(2, slow_indices(views.shape[2], alpha))
    return [slow, views]
