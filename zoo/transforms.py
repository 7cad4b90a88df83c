"""Test-time input of a zoo entry: which frames, which crops, which tensors.

A published accuracy is only reproducible with the published test protocol. This module
holds that protocol for one entry, as an :class:`InputSpec` built from the catalogue
(:meth:`InputSpec.from_entry`), and turns decoded frames into the model's input views:

Which rule applies is the entry's protocol (``zoo/catalog/protocols.toml``, one per reference
loader, every field traced to the config key and file it came from; :func:`protocol_of`).

- **Temporal, ``"ptv"``** (PySlowFast's ``ptvkinetics``/``ptvcharades`` loaders: PyTorchVideo's
  ``ConstantClipsPerVideoSampler``): clips are *time* intervals. A clip lasts
  ``clip_duration`` seconds (``num_frames * sampling_rate / 30``; Charades
  ``((num_frames - 1) * sampling_rate + 1) / 30``); clip ``i`` of ``N`` starts at
  ``i * max(duration - clip_duration, 0) / N`` (divided by ``N``: the first clip starts at 0,
  a single clip is not centred). A video file keeps the frames whose timestamps fall in
  ``[ceil(start / time_base), ceil(end / time_base))`` (:func:`ptv_video_clip_frames`); a frame
  folder (or a decoded tensor) is read at a fixed rate and keeps frames
  ``ceil(fps * start) .. ceil(fps * min(end, duration)) - 1`` (:func:`ptv_frame_clip_indices`).
  Of those ``n`` frames, ``linspace(0, n - 1, num_frames)`` are taken: a video shorter than a
  clip is spread over, not padded.
- **Temporal, ``"pyslowfast"``** (PySlowFast's own ``kinetics`` loader, the MViT entries, with
  ``DATA.USE_OFFSET_SAMPLING``): a clip spans ``num_frames x sampling_rate`` frames at a target
  of 30 fps, i.e. ``num_frames * sampling_rate / 30 * fps`` frames of the file. With
  ``slack = max(video_frames - span, 0)``, clip ``i`` starts at ``i * floor(slack / (N - 1))``;
  a single clip starts at ``floor(slack / 2)`` (centred). The indices are
  ``linspace(start, start + span - 1, num_frames)``, clamped to the video and truncated.
- **Temporal, ``"segments"``** (``ptvssv2``): the whole video in ``num_frames`` equal segments,
  the middle frame of each.
- **Temporal, ``"torchvision"``** (torchvision's video reference scripts: ``VideoClips`` with
  ``frames_between_clips=1`` and ``UniformClipSampler``): the video is resampled to
  ``target_fps / sampling_rate`` fps (15 fps for ``x2``) by frame index: every ``step``-th frame
  when ``step = fps / new_fps`` is an integer, else ``floor(k * step)`` for
  ``k < floor(frames * new_fps / fps)``; every window of ``num_frames`` consecutive resampled
  frames is a clip (``L = resampled - num_frames + 1`` of them; none for a shorter video), and
  clips ``floor(linspace(0, L - 1, N))`` are taken (:func:`torchvision_clip_indices`). One clip
  is the first, not the centre one.
- **Spatial**: the short side is scaled to ``side_size`` (bilinear, no antialiasing, the long
  side ``floor(long / short * side_size)``; torchvision's rule, ``resize_rule = "torchvision"``,
  resizes the uint8 frames to ``resize_size`` -- ``(h, w)``, or ``(short,)`` with the long side
  ``int(short * long / short_now)`` -- and rounds them back to uint8, as its
  ``VideoClassification`` transform does), then ``spatial_crops`` squares of ``crop_size``:
  3 = start/centre/end along the long side (the centre offset is ``ceil((long - crop) / 2)``).
  With fewer crops the rule differs by loader (``crop_rule``): PySlowFast's takes the centre
  for one crop; PyTorchVideo's ``UniformCropVideo`` takes crop ``aug_index`` = 0, 1, ...;
  torchvision's ``center_crop`` (``"centre-round"``) places the centre crop at
  ``round((long - crop) / 2)`` (Python's round: halves to even), not ``ceil``.
- **Normalisation**: pixels in [0, 1], then ``(x - mean) / std`` per channel; then the
  channel order the model was trained with (``channel_order``, ``"rgb"`` for every entry:
  see the protocol file for why the SSv2/Charades ``rgb2bgr`` does not make them BGR).
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
    >>> spec.temporal_rule  # X3D-XS was tested by PySlowFast's ptvkinetics loader
    'ptv'
    >>> spec.clip_indices(90, fps=30.0)[1].tolist()  # 4 frames x 12 = 1.6 s; clip 2 starts at 0.7 s
    [21, 36, 52, 68]

With real weights: ``model = zoo.create_model("x3d_xs", pretrained=True)``, then
``probs = model(views).mean(0)`` (X3D's head already applies softmax).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

import torch
from torch.nn import functional as F

#: Where :class:`ViewBuilder` takes the memory for its views (None: ``torch.empty``); set with
#: :func:`views_allocated_by`.
_VIEWS_ALLOCATOR: contextvars.ContextVar[Callable[[tuple[int, ...]], torch.Tensor] | None] = contextvars.ContextVar(
    "videozoo_views_allocator", default=None
)


@contextlib.contextmanager
def views_allocated_by(allocate: Callable[[tuple[int, ...]], torch.Tensor]) -> Iterator[None]:
    """Within this context (this thread), every :class:`ViewBuilder` takes the memory for its
    views from ``allocate(shape)``, which returns an uninitialised float32 tensor of that shape:
    the views' ``(V, C, T, crop, crop)``, or for SlowFast one flat ``(n,)`` block that holds the
    fast pathway and then the slow one.

    A DataLoader worker uses it to build the views straight into a shared-memory buffer it
    reuses (:mod:`benchmarks.runtime.view_buffers`), instead of fresh memory that is then copied to
    fresh shared memory, page by page, for every video.

    Example:
        >>> import torch
        >>> spec = InputSpec(num_frames=2, sampling_rate=1, side_size=8, crop_size=8, temporal_clips=1,
        ...                  spatial_crops=1, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
        >>> memory = torch.empty(1, 3, 2, 8, 8)
        >>> with views_allocated_by(lambda shape: memory.view(shape)):
        ...     views = spec.views(torch.zeros(2, 8, 8, 3, dtype=torch.uint8), fps=30.0)
        >>> views.data_ptr() == memory.data_ptr(), views.min().item()
        (True, -1.0)
    """
    token = _VIEWS_ALLOCATOR.set(allocate)
    try:
        yield
    finally:
        _VIEWS_ALLOCATOR.reset(token)


#: The frame rate the published ``sampling_rate`` refers to (PySlowFast ``DATA.TARGET_FPS``).
TARGET_FPS = 30.0

#: Temporal sampling rules (see the module docstring); ``"clips"`` is the old name of ``"pyslowfast"``.
TEMPORAL_RULES = ("ptv", "pyslowfast", "segments", "torchvision")

#: How long a ``"ptv"`` clip lasts, in frames at ``target_fps`` (divided by it for seconds).
CLIP_DURATION_RULES = {
    "frames_x_rate": lambda frames, rate: frames * rate,  # ptvkinetics
    "frames_minus_one_x_rate_plus_one": lambda frames, rate: (frames - 1) * rate + 1,  # ptvcharades
}

#: Which frames of a video file a ``"ptv"`` clip ``[start, end)`` keeps (PyTorchVideo's
#: ``EncodedVideoPyAV.get_clip``): 0.1.5 (installed, tested against) and 0.1.0 (what the zoo's
#: numbers were most likely measured with; see zoo/catalog/protocols.toml).
CLIP_BOUNDS = ("ptv-0.1.5", "ptv-0.1.0")

#: Spatial crop choice: ``"pyslowfast"`` (one crop = centre, two = start/end) or ``"aug_index"``
#: (PyTorchVideo's UniformCropVideo: crop k for the k-th view of a clip).
CROP_RULES = ("pyslowfast", "aug_index", "centre-round")

#: How frames are scaled before cropping: ``"short-side"`` (the PySlowFast/PyTorchVideo rule, on
#: float frames) or ``"torchvision"`` (``VideoClassification``: uint8 frames to ``resize_size``,
#: rounded back to uint8; see the module docstring).
RESIZE_RULES = ("short-side", "torchvision")

def protocol_of(entry) -> dict:
    """The test-input protocol of a :class:`zoo.ZooEntry`: field -> ``{"value", "source"}``.

    Example:
        >>> import zoo
        >>> p = protocol_of(zoo.get_entry("x3d_xs"))
        >>> p["loader"]["value"], p["clip_bounds"]["source"].split(":")[0]
        ('ptvkinetics', 'PTV encoded_video_pyav.py get_clip')
    """
    from zoo.catalog import load_protocols

    name = (getattr(entry, "extra", {}) or {}).get("protocol", "kinetics")
    protocols = load_protocols()
    if name not in protocols:
        raise ValueError(f"{entry.name}: unknown protocol {name!r}; known: {sorted(protocols)}")
    return protocols[name]


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
    temporal_rule: str = "pyslowfast"
    target_fps: float = TARGET_FPS
    clip_duration_rule: str = "frames_x_rate"
    clip_bounds: str = "ptv-0.1.5"
    crop_rule: str = "pyslowfast"
    channel_order: str = "rgb"
    #: the rate a frame folder (or a decoded tensor, for ``"ptv"``) is read at; None: its own
    frame_rate: float | None = None
    resize_rule: str = "short-side"
    #: torchvision's ``resize_size`` (``(h, w)`` or ``(short,)``); None: ``(side_size,)``
    resize_size: tuple[int, ...] | None = None

    def __post_init__(self):
        if self.temporal_rule == "clips":  # the name before the ptv rule existed
            object.__setattr__(self, "temporal_rule", "pyslowfast")
        checks = [
            ("temporal_rule", TEMPORAL_RULES),
            ("clip_duration_rule", tuple(CLIP_DURATION_RULES)),
            ("clip_bounds", CLIP_BOUNDS),
            ("crop_rule", CROP_RULES),
            ("resize_rule", RESIZE_RULES),
            ("channel_order", ("rgb", "bgr")),
        ]
        for name, allowed in checks:
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    @classmethod
    def from_entry(cls, entry, views: str | tuple[int, int] | None = None, *, protocol_of_entry=None) -> "InputSpec":
        """The spec of a :class:`zoo.ZooEntry`; ``views`` (``"CLIPSxCROPS"``) overrides the catalogue's.

        The rules (temporal rule, clip duration and bounds, crop rule, resize rule, channel
        order, frame rate of frame folders) come from the entry's protocol (:func:`protocol_of`).

        ``protocol_of_entry``: another entry whose protocol to run ``entry`` under (a
        like-for-like comparison): its rules and its views (clips x crops, unless ``views``
        is given); the model's own input stays ``entry``'s (frames, sampling rate -- so a
        torchvision rule resamples to ``30 / sampling_rate`` fps --, sizes, mean/std).
        """
        rules_from = protocol_of_entry if protocol_of_entry is not None else entry
        clips, crops = parse_views(views) if views is not None else (rules_from.temporal_clips, rules_from.spatial_crops)
        protocol = {field: item["value"] for field, item in protocol_of(rules_from).items() if isinstance(item, dict)}

        def pick(field: str, allowed, default):
            # fields a rule does not use hold prose ("whole video", "frame-index"): keep the default
            value = protocol.get(field, default)
            return value if value in allowed else default

        frame_rate = protocol.get("frame_rate")
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
            temporal_rule=pick("temporal_rule", TEMPORAL_RULES, "pyslowfast"),
            clip_duration_rule=pick("clip_duration", tuple(CLIP_DURATION_RULES), "frames_x_rate"),
            clip_bounds=pick("clip_bounds", CLIP_BOUNDS, "ptv-0.1.5"),
            crop_rule=pick("crop_rule", CROP_RULES, "pyslowfast"),
            channel_order=pick("channel_order", ("rgb", "bgr"), "rgb"),
            frame_rate=float(frame_rate) if isinstance(frame_rate, (int, float)) else None,
            resize_rule=pick("resize_rule", RESIZE_RULES, "short-side"),
            resize_size=tuple(entry.extra["resize_size"]) if entry.extra.get("resize_size") else None,
        )

    def with_views(self, views: str | tuple[int, int]) -> "InputSpec":
        """A copy with other views (``"CLIPSxCROPS"``)."""
        clips, crops = parse_views(views)
        return replace(self, temporal_clips=clips, spatial_crops=crops)

    def with_sizes(self, side_size: int, crop_size: int, resize_size: tuple[int, ...] | None = None) -> "InputSpec":
        """A copy scaling the short side to ``side_size`` (torchvision: to ``resize_size`` if given)
        and cropping ``crop_size`` (tiny tests, previews)."""
        return replace(self, side_size=side_size, crop_size=crop_size, resize_size=resize_size)

    @property
    def resampled_fps(self) -> float:
        """The rate a ``"torchvision"`` clip's consecutive frames are taken at (``target_fps / sampling_rate``)."""
        return self.target_fps / self.sampling_rate

    @property
    def num_views(self) -> int:
        return self.temporal_clips * self.spatial_crops

    @property
    def views_label(self) -> str:
        """``"CLIPSxCROPS"``, the form ``--views`` takes."""
        return f"{self.temporal_clips}x{self.spatial_crops}"

    def clip_span(self, fps: float) -> float:
        """Frames of a file at ``fps`` covered by one ``"pyslowfast"`` clip (may be fractional)."""
        return self.num_frames * self.sampling_rate / self.target_fps * fps

    @property
    def clip_duration(self) -> float:
        """Seconds of one ``"ptv"`` clip, as the reference computes it (a float)."""
        frames = CLIP_DURATION_RULES[self.clip_duration_rule](self.num_frames, self.sampling_rate)
        return frames / self.target_fps

    def clip_indices(self, video_frames: int, fps: float) -> list[torch.Tensor]:
        """Frame indices of every temporal clip, one ``LongTensor(num_frames)`` per clip.

        For ``"ptv"`` the frames are taken as read at a fixed ``fps`` (frame ``k`` at ``k / fps``
        seconds), as PyTorchVideo's ``FrameVideo`` reads a frame folder; video files, whose
        frames carry their own timestamps, go through :func:`ptv_video_clip_frames` instead.
        """
        if video_frames < 1:
            raise ValueError("a video needs at least one frame")
        if self.temporal_rule == "segments":
            return [segment_indices(video_frames, self.num_frames)] * self.temporal_clips
        if self.temporal_rule == "ptv":
            return ptv_frame_clip_indices(video_frames, fps, self.clip_duration, self.num_frames, self.temporal_clips)
        if self.temporal_rule == "torchvision":
            return torchvision_clip_indices(video_frames, fps, self.resampled_fps, self.num_frames, self.temporal_clips)
        return [
            clip_indices(video_frames, self.clip_span(fps), self.num_frames, i, self.temporal_clips)
            for i in range(self.temporal_clips)
        ]

    def crop_indices(self) -> tuple[int, ...]:
        """The crop index (0 start, 1 centre, 2 end) of each spatial view of a clip."""
        if self.crop_rule == "aug_index":
            return tuple(range(self.spatial_crops))
        return crop_positions(self.spatial_crops)

    def scale(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 ``(T, H, W, C)`` frames -> float ``(T, C, H', W')`` in [0, 1], by the resize rule."""
        scaled, pixel_range = self.scale_pixels(frames)
        return scaled / pixel_range if pixel_range != 1.0 else scaled

    def scale_pixels(self, frames: torch.Tensor) -> tuple[torch.Tensor, float]:
        """uint8 ``(T, H, W, C)`` -> (float ``(T, C, H', W')``, the value of white in it).

        The short-side rule scales the 0-255 values as decoded, channels-last in memory
        (bilinear scaling runs 2-3x faster so), leaving the division by 255 to the
        normalisation; torchvision's rule resizes the uint8 frames and rounds, in [0, 1].
        """
        if self.resize_rule == "torchvision":
            return torchvision_resize(frames, self.resize_size or (self.side_size,)), 1.0
        out, pixel_range = self.scaled_buffer(frames.shape[0], *frames.shape[1:4])
        # One frame at a time: its float copy stays in cache instead of a whole clip's going
        # through memory (40 640x272 frames to 182 px: 118 -> 84 ms, bit for bit the same).
        for k in range(frames.shape[0]):
            self.scale_into(out, k, frames[k])
        return out, pixel_range

    @property
    def scales_frame_by_frame(self) -> bool:
        """Whether each frame is scaled on its own (:meth:`scale_into`), so a decoder can hand
        frames over as they come; torchvision's rule resizes a whole clip at once."""
        return self.resize_rule != "torchvision"

    def scaled_buffer(self, count: int, height: int, width: int, channels: int = 3) -> tuple[torch.Tensor, float]:
        """An empty float ``(count, C, H', W')`` for frames of ``height x width`` (channels-last in
        memory, where bilinear scaling runs 2-3x faster) and the value of white in it."""
        new_h, new_w = (height, width) if min(height, width) == self.side_size else scaled_size(height, width, self.side_size)
        # allocated channels-last: ``empty(...).contiguous(channels_last)`` would copy a whole
        # uninitialised buffer first (0.19 s of MViT's 0.5 s per video of views)
        return torch.empty((count, channels, new_h, new_w), memory_format=torch.channels_last), 255.0

    def scale_into(self, out: torch.Tensor, k: int, frame: torch.Tensor) -> None:
        """Scale one uint8 ``(H, W, C)`` frame by the short-side rule into row ``k`` of ``out``
        (from :meth:`scaled_buffer`), its 0-255 values as decoded."""
        chw = frame.unsqueeze(0).permute(0, 3, 1, 2)
        if chw.shape[2:] == out.shape[2:]:
            out[k : k + 1] = chw
        else:
            # F.interpolate's kernel (bilinear, align_corners=False, scale from the sizes) writing
            # straight into the row, instead of into a new tensor copied in after
            torch.ops.aten.upsample_bilinear2d.out(chw.float(), list(out.shape[2:]), False, None, None, out=out[k : k + 1])

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
        order = [row_of(i) for i in wanted]
        # a decoder's frames are usually exactly the needed ones, in order: no gather copy then
        unique = frames if order == list(range(frames.shape[0])) else frames[torch.tensor(order, dtype=torch.long)]
        # Scale each distinct frame once: clips overlap, and scaling is the costly step.
        scaled, pixel_range = self.scale_pixels(unique)
        return self.views_from_scaled(scaled, pixel_range, indices)

    def views_from_scaled(self, scaled: torch.Tensor, pixel_range: float, indices: Sequence[torch.Tensor]):
        """Views from already scaled frames: row ``k`` of ``scaled`` (float ``(K, C, H', W')``
        with white at ``pixel_range``) is the ``k``-th distinct frame of ``indices`` in
        increasing order, as :meth:`scale_pixels` or :meth:`scale_into` made it."""
        builder = self.view_builder(indices)
        for k, frame in enumerate(sorted({int(i) for clip in indices for i in clip})):
            builder.add_scaled(frame, scaled[k : k + 1], pixel_range)
        return builder.result()

    def view_builder(self, indices: Sequence[torch.Tensor]) -> ViewBuilder:
        """A :class:`ViewBuilder` for the views of clips ``indices`` (frames given one by one)."""
        return ViewBuilder(self, indices)


class ViewBuilder:
    """The views of an :class:`InputSpec`, built one frame at a time, in any order.

    Each distinct frame is scaled once (:meth:`add`, or :meth:`add_scaled` for a frame scaled
    already), normalised once over the box its crops cover, and copied into every view
    position that uses it; so a decoder can hand over frames as they come and the views are
    ready when the last one arrives. :meth:`result` gives ``(V, C, T, crop, crop)`` (or
    ``[slow, fast]``), the same values whatever order the frames came in.

    Example:
        >>> import torch
        >>> spec = InputSpec(num_frames=2, sampling_rate=1, side_size=8, crop_size=8, temporal_clips=1,
        ...                  spatial_crops=1, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
        >>> builder = spec.view_builder([torch.tensor([3, 4])])
        >>> for frame in (4, 3):  # any order
        ...     builder.add(frame, torch.full((8, 8, 3), 255 if frame == 3 else 0, dtype=torch.uint8))
        >>> views = builder.result()
        >>> views.shape, views[0, :, 0].max().item(), views[0, :, 1].min().item()
        (torch.Size([1, 3, 2, 8, 8]), 1.0, -1.0)
    """

    def __init__(self, spec: InputSpec, indices: Sequence[torch.Tensor]):
        self.spec = spec
        self.clips = len(indices)
        self.num_frames = len(indices[0])
        self.uses: dict[int, list[tuple[int, int]]] = {}  # frame -> its (clip, time) positions
        for c, clip in enumerate(indices):
            for t, frame in enumerate(clip.tolist()):
                self.uses.setdefault(int(frame), []).append((c, t))
        self.batch: torch.Tensor | None = None
        self._frame: torch.Tensor | None = None
        self._added: set[int] = set()

    def _start(self, channels: int, height: int, width: int, pixel_range: float) -> None:
        spec, size = self.spec, self.spec.crop_size
        if min(height, width) < size:
            raise ValueError(f"frames of {height}x{width} are smaller than the crop size {size}")
        centre = "round" if spec.crop_rule == "centre-round" else "ceil"
        self.offsets = [crop_offset(height, width, size, c, centre) for c in spec.crop_indices()]
        self.box = (min(y for y, _ in self.offsets), min(x for _, x in self.offsets),
                    max(y for y, _ in self.offsets) + size, max(x for _, x in self.offsets) + size)
        # [0, 1] then (x - mean) / std as one multiply-add per channel (scaling is linear, so
        # dividing by 255 after it is the same arithmetic)
        mean, std = torch.tensor(spec.mean), torch.tensor(spec.std)
        self.scale = (1.0 / (pixel_range * std)).view(1, -1, 1, 1)
        self.shift = (mean / std).view(1, -1, 1, 1)
        shape = (self.clips * len(self.offsets), channels, self.num_frames, size, size)
        allocate = _VIEWS_ALLOCATOR.get() or torch.empty
        self.slow = None
        if spec.alpha and spec.channel_order != "bgr":
            # SlowFast: both pathways in one block of memory (fast, then slow), so an allocator
            # that shares memory with another process hands both over in one piece
            slow_shape = (shape[0], channels, self.num_frames // spec.alpha, size, size)
            fast_numel = math.prod(shape)
            block = allocate((fast_numel + math.prod(slow_shape),))
            self.batch, self.slow = block[:fast_numel].view(shape), block[fast_numel:].view(slow_shape)
        else:
            self.batch = allocate(shape)

    def add_scaled(self, frame: int, scaled: torch.Tensor, pixel_range: float) -> None:
        """Place ``frame`` (its index in the clips), scaled already: float ``(1, C, H', W')``."""
        if self.batch is None:
            self._start(scaled.shape[1], scaled.shape[2], scaled.shape[3], pixel_range)
        self._added.add(frame)
        y0, x0, y1, x1 = self.box
        # normalised once per frame, only where crops fall, into a contiguous buffer
        region = torch.empty(1, scaled.shape[1], y1 - y0, x1 - x0)
        torch.mul(scaled[..., y0:y1, x0:x1], self.scale, out=region)
        region.sub_(self.shift)
        size, crops = self.spec.crop_size, len(self.offsets)
        for k, (y, x) in enumerate(self.offsets):
            crop = region[0, :, y - y0 : y - y0 + size, x - x0 : x - x0 + size]
            for c, t in self.uses[frame]:
                self.batch[c * crops + k, :, t].copy_(crop)

    def add(self, frame: int, pixels: torch.Tensor) -> None:
        """Scale uint8 ``(H, W, C)`` ``pixels`` by the spec's short-side rule and place them."""
        if self._frame is None:
            self._size = tuple(pixels.shape)
            self._frame, self._range = self.spec.scaled_buffer(1, *pixels.shape)
        elif tuple(pixels.shape) != self._size:
            raise ValueError(f"frame {frame} is {tuple(pixels.shape)[:2]} where the first was {self._size[:2]}")
        self.spec.scale_into(self._frame, 0, pixels)
        self.add_scaled(frame, self._frame, self._range)

    def result(self):
        """The views, once every frame was added."""
        missing = set(self.uses).difference(self._added)
        if missing:
            raise ValueError(f"{len(missing)} frames the views need were never added (e.g. {sorted(missing)[:3]})")
        batch = self.batch
        if self.slow is not None:  # the slow pathway's frames, into its place beside the fast one
            torch.index_select(batch, 2, slow_indices(batch.shape[2], self.spec.alpha), out=self.slow)
            return [self.slow, batch]
        if self.spec.channel_order == "bgr":  # the references flip after normalising
            batch = batch.flip(1)
        if self.spec.alpha:
            return pack_pathways(batch, self.spec.alpha)
        return batch


def linspace_pick(count: int, num_frames: int) -> torch.Tensor:
    """``num_frames`` of ``count`` frames, evenly spread (PyTorchVideo's UniformTemporalSubsample).

    Example (5 frames spread over 8, 10 frames thinned to 4):
        >>> linspace_pick(5, 8).tolist(), linspace_pick(10, 4).tolist()
        ([0, 0, 1, 1, 2, 2, 3, 4], [0, 3, 6, 9])
    """
    positions = torch.linspace(0, count - 1, num_frames)
    return positions.clamp(0, count - 1).long()


def ptv_clip_times(duration, clip_duration: float, num_clips: int) -> list[tuple[Fraction, Fraction]]:
    """``[start, end)`` seconds of each clip of PyTorchVideo's ConstantClipsPerVideoSampler (0.1.5).

    ``duration`` keeps the type the reference gives it (a ``Fraction`` for a video file, a float
    for a frame folder): the arithmetic below mirrors the reference's, types included, so
    the bounds are equal to the last bit.

    Example (a 10 s video, 2.1333 s clips, 3 clips: starts at 0, 2.622, 5.244 s):
        >>> [round(float(s), 3) for s, _ in ptv_clip_times(Fraction(10), 8 * 8 / 30, 3)]
        [0.0, 2.622, 5.244]
    """
    clip = Fraction(clip_duration)
    max_start = Fraction(max(duration - clip, 0))
    step = Fraction(max_start, num_clips)
    return [(step * i, step * i + clip) for i in range(num_clips)]


def ptv_frame_clip_indices(count: int, fps: float, clip_duration: float, num_frames: int, num_clips: int) -> list[torch.Tensor]:
    """Frame indices of ``"ptv"`` clips of ``count`` frames read at ``fps`` (PyTorchVideo's FrameVideo).

    ``FrameVideo.get_clip(start, end)`` keeps frames ``ceil(fps * start)`` up to (excluding)
    ``min(ceil(fps * min(end, duration)), count)`` with ``duration = count / fps``; then
    :func:`linspace_pick` takes ``num_frames`` of them.

    Example (Charades 8x8 at 30 fps: 57-frame clips; 100 frames, 2 clips):
        >>> [c.tolist() for c in ptv_frame_clip_indices(100, 30.0, 57 / 30, 8, 2)]
        [[0, 8, 16, 24, 32, 40, 48, 56], [22, 30, 38, 46, 54, 62, 70, 78]]
    """
    duration = count / fps
    out = []
    for start, end in ptv_clip_times(duration, clip_duration, num_clips):
        end = min(end, duration)
        first = math.ceil(fps * start)
        stop = min(math.ceil(fps * end), count)
        if stop <= first:
            raise ValueError(f"no frame in clip [{float(start):.3f}, {float(end):.3f}) s of {count} frames at {fps} fps")
        out.append(first + linspace_pick(stop - first, num_frames))
    return out


def ptv_video_clip_frames(
    frame_pts: Sequence[int], time_base: Fraction, start_pts: int, duration, spec: "InputSpec"
) -> list[torch.Tensor]:
    """Positions in ``frame_pts`` (sorted presentation timestamps of a video file) of each ``"ptv"`` clip.

    PyTorchVideo's ``EncodedVideoPyAV.get_clip(start, end)`` keeps the frames whose pts lies in
    ``[ceil(start / time_base), ceil(end / time_base)) + start_pts`` (0.1.5); 0.1.0 kept
    ``[int(start / tb), int(end / tb)] + start_pts`` (float seconds, end inclusive).
    ``duration`` is the reference's: ``(stream.duration - start_pts) * time_base``, or the last
    frame's time when the container declares no duration (:func:`ptv_duration`).

    Example (a 25 fps file with time base 1/12800: pts 0, 512, 1024, ...; one 4x12 clip). The
    clip lasts ``4 * 12 / 30`` s, a float a hair above 1.6, so its end rounds up past frame 40's
    pts (20480) and the clip keeps 41 frames, not 40 -- as the reference does:
        >>> spec = InputSpec(4, 12, 32, 32, (0.45,) * 3, (0.225,) * 3, temporal_rule="ptv")
        >>> pts = [512 * k for k in range(100)]
        >>> ptv_video_clip_frames(pts, Fraction(1, 12800), 0, Fraction(4), spec)[0].tolist()
        [0, 13, 26, 40]
    """
    pts_list = list(frame_pts)
    if spec.clip_bounds == "ptv-0.1.0":  # float seconds throughout, as 0.1.0's sampler
        step = max(float(duration) - spec.clip_duration, 0) / spec.temporal_clips
        times = [(step * i, step * i + spec.clip_duration) for i in range(spec.temporal_clips)]
        tb = float(time_base)  # 0.1.0's end is inclusive: as a half-open bound, one tick past it
        bounds = [(int(float(start) / tb) + start_pts, int(float(end) / tb) + start_pts + 1) for start, end in times]
    else:
        times = ptv_clip_times(duration, spec.clip_duration, spec.temporal_clips)
        bounds = ptv_clip_pts_bounds(time_base, start_pts, duration, spec)
    out = []
    for index, ((start, end), (first, stop)) in enumerate(zip(times, bounds)):
        inside = [k for k, p in enumerate(pts_list) if first <= p < stop]
        if not inside:
            raise ValueError(f"no frame in clip {index} [{float(start):.3f}, {float(end):.3f}) s")
        out.append(torch.tensor(inside, dtype=torch.long)[linspace_pick(len(inside), spec.num_frames)])
    return out


def ptv_clip_pts_bounds(time_base: Fraction, start_pts: int, duration, spec: "InputSpec") -> list[tuple[int, int]]:
    """``[first, stop)`` presentation timestamps of each ``"ptv"`` clip of a video file
    (PyTorchVideo 0.1.5's ``EncodedVideoPyAV.get_clip``: ``secs_to_pts(..., round_mode="ceil")``
    of the clip's start and end, with ``duration`` as :func:`ptv_duration` gives it).

    Example (the clip of :func:`ptv_video_clip_frames`' example: ends just past pts 20480):
        >>> spec = InputSpec(4, 12, 32, 32, (0.45,) * 3, (0.225,) * 3, temporal_rule="ptv")
        >>> ptv_clip_pts_bounds(Fraction(1, 12800), 0, Fraction(4), spec)
        [(0, 20481)]
    """
    return [(math.ceil(start / time_base) + start_pts, math.ceil(end / time_base) + start_pts)
            for start, end in ptv_clip_times(duration, spec.clip_duration, spec.temporal_clips)]


def ptv_duration(stream_duration: int | None, time_base: Fraction, start_pts: int, last_frame_pts: int | None):
    """A video file's duration as PyTorchVideo's EncodedVideoPyAV computes it (seconds, a Fraction).

    ``int(stream.duration - start_pts) * time_base`` (the header's duration, less the start
    offset: a reference quirk, followed); without a header duration, the last frame's pts.
    """
    pts = stream_duration if stream_duration is not None else last_frame_pts
    return int(pts - start_pts) * Fraction(time_base)


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


def torchvision_clip_indices(count: int, fps: float, new_fps: float, clip_len: int, num_clips: int) -> list[torch.Tensor]:
    """Frame indices of torchvision's test clips (``VideoClips`` + ``UniformClipSampler``).

    ``VideoClips.compute_clips_for_video(pts, clip_len, step=1, fps, frame_rate=new_fps)``
    resamples the ``count`` frames (``_resample_video_idx``): with ``step = fps / new_fps`` an
    integer, every ``step``-th frame (a slice: ``ceil(count / step)`` frames); otherwise
    ``floor(arange(floor(count * new_fps / fps)) * step)`` in float32. ``unfold(.., clip_len, 1)``
    makes every window of ``clip_len`` consecutive resampled frames a clip; the sampler takes
    clips ``floor(linspace(0, L - 1, num_clips))`` of the ``L`` (float32, as ``torch.linspace``).
    The reference offsets the linspace by the clips of the videos before (``s``), which float32
    can round differently for a video deep in a large dataset; per video, as here, is what it means.

    Example (100 frames at 30 fps, 15 fps clips of 16 frames: 50 resampled, 35 clips, 5 taken):
        >>> [c[:3].tolist() + [c[-1].item()] for c in torchvision_clip_indices(100, 30.0, 15.0, 16, 5)]
        [[0, 2, 4, 30], [16, 18, 20, 46], [34, 36, 38, 64], [50, 52, 54, 80], [68, 70, 72, 98]]
    """
    step = fps / new_fps
    if float(step).is_integer():
        resampled = torch.arange(count)[:: int(step)]
    else:
        resampled = (torch.arange(int(math.floor(count * new_fps / fps)), dtype=torch.float32) * step).floor().to(torch.int64)
    windows = resampled.numel() - clip_len + 1
    if windows < 1:
        raise ValueError(
            f"{count} frames at {fps:g} fps give {resampled.numel()} frames at {new_fps:g} fps, fewer than one "
            f"clip of {clip_len} (torchvision's VideoClips makes no clip of such a video)"
        )
    picks = torch.linspace(0, windows - 1, steps=num_clips).floor().to(torch.int64)
    return [resampled[int(k) : int(k) + clip_len] for k in picks]


def torchvision_resized_size(height: int, width: int, resize_size: Sequence[int]) -> tuple[int, int]:
    """``(h, w)`` after torchvision's ``F.resize(.., resize_size)``: a pair as given, one value the short side.

    Example:
        >>> torchvision_resized_size(240, 320, (128, 171)), torchvision_resized_size(240, 426, (256,))
        ((128, 171), (256, 454))
    """
    if len(resize_size) == 2:
        return int(resize_size[0]), int(resize_size[1])
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = int(resize_size[0]), int(int(resize_size[0]) * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)


def torchvision_resize(frames: torch.Tensor, resize_size: Sequence[int]) -> torch.Tensor:
    """uint8 ``(T, H, W, C)`` -> float ``(T, C, H', W')`` in [0, 1], as torchvision's ``VideoClassification``.

    It resizes the uint8 frames (bilinear, ``antialias=False``; frames already at the size are
    left alone), rounds back to uint8, then converts to float (``/ 255``).
    """
    chw = frames.permute(0, 3, 1, 2)
    height, width = chw.shape[-2:]
    size = torchvision_resized_size(height, width, resize_size)
    if size == (height, width):
        return chw.float().div_(255.0)
    scaled = F.interpolate(chw.float(), size=size, mode="bilinear", align_corners=False, antialias=False)
    return scaled.round_().div_(255.0)


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


def crop_offset(height: int, width: int, size: int, index: int, centre: str = "ceil") -> tuple[int, int]:
    """``(y, x)`` of square crop ``index`` (0 start, 1 centre, 2 end) along the long side.

    ``centre``: ``"ceil"`` (PySlowFast/PyTorchVideo) or ``"round"`` (torchvision's ``center_crop``,
    Python's round: a half goes to the even side).

    Example (a 42-wide, 32-high frame, crop 32; a 171-wide one, crop 112: 29.5 -> 30 both ways,
    a 169-wide one: 28.5 -> 29 or 28):
        >>> [crop_offset(32, 42, 32, i) for i in range(3)]
        [(0, 0), (0, 5), (0, 10)]
        >>> crop_offset(128, 171, 112, 1, "round"), crop_offset(128, 169, 112, 1), crop_offset(128, 169, 112, 1, "round")
        ((8, 30), (8, 29), (8, 28))
    """
    offset = (lambda n: int(round(n / 2.0))) if centre == "round" else (lambda n: int(math.ceil(n / 2)))
    y = offset(height - size)
    x = offset(width - size)
    if height > width:
        y = {0: 0, 1: y, 2: height - size}[index]
    else:
        x = {0: 0, 1: x, 2: width - size}[index]
    return y, x


def uniform_crop(frames: torch.Tensor, size: int, index: int, centre: str = "ceil") -> torch.Tensor:
    """Square crop ``index`` (0 start, 1 centre, 2 end along the long side) of ``(..., H, W)``."""
    height, width = frames.shape[-2:]
    if min(height, width) < size:
        raise ValueError(f"frames of {height}x{width} are smaller than the crop size {size}")
    y, x = crop_offset(height, width, size, index, centre)
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
