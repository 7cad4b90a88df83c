"""Training clips: the reference's train transform, from the library's own decoder.

PySlowFast trains the zoo's Kinetics models with PyTorchVideo's train transform (its
``ptvkinetics`` loader; ``slowfast/datasets/ptv_datasets.py``), and its own ``kinetics`` loader
does the same steps (``slowfast/datasets/decoder.py``, ``utils.spatial_sampling``):

1. **Random clip start** (PySlowFast's ``get_start_end_idx`` with ``clip_idx = -1``): a clip
   spans ``num_frames x sampling_rate`` frames at 30 fps, i.e. ``span = num_frames *
   sampling_rate / 30 * fps`` frames of the file; its start is uniform in ``[0, max(frames -
   span, 0)]`` and its frames are ``linspace(start, start + span - 1, num_frames)``, clamped to
   the video (a video shorter than a clip repeats its last frame) and truncated.
2. **Random short-side scale** (PyTorchVideo's ``RandomShortSideScale``): the short side to
   ``randint(min_scale, max_scale + 1)`` (bilinear, no antialiasing; the long side floored):
   the entry's config's ``DATA.TRAIN_JITTER_SCALES`` (the catalogue's ``train_jitter``), scaled
   with the crop when it is overridden.
3. **Random crop** of ``crop x crop`` at ``y = randint(0, H' - crop + 1)``,
   ``x = randint(0, W' - crop + 1)``: the config's ``DATA.TRAIN_CROP_SIZE`` (``train_crop_size``:
   X3D-XS 160, the R50 family 224), not the test crop.
4. **Horizontal flip** with probability ``flip`` (0.5; the catalogue's ``train_flip``: SSv2's configs do not flip, nor did the demo's trainer).
5. Pixels in [0, 1], then ``(x - mean) / std`` with the entry's mean and std (scaling and
   normalising commute: bilinear weights sum to one); SlowFast gets ``[slow, fast]``
   (:func:`zoo.transforms.pack_pathways`).

Every random choice comes from one ``torch.Generator``, in this order: the clip start
(``torch.rand``), the scale, the crop's ``y`` and ``x`` (``torch.randint``), the flip
(``torch.rand``): :meth:`TrainSpec.choose` and :class:`TrainChoice` say what was picked, so a
clip can be checked by hand, and a sampler that seeds the generator per (epoch, video) gives
every clip independently of which worker made it.

Example:
    >>> import torch, zoo
    >>> from zoo.input.training import TrainSpec
    >>> spec = TrainSpec.from_entry(zoo.get_entry("i3d_tiny_8x4_demo"))
    >>> spec.num_frames, spec.crop_size, (spec.min_scale, spec.max_scale)
    (8, 32, (32, 32))
    >>> frames = torch.randint(0, 256, (60, 48, 64, 3), dtype=torch.uint8)  # 2 s at 30 fps
    >>> clip, choice = spec.clip(frames, fps=30.0, generator=torch.Generator().manual_seed(0))
    >>> clip.shape, choice.frames
    (torch.Size([3, 8, 32, 32]), (13, 18, 22, 27, 31, 36, 40, 44))
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from zoo.input.source import VideoInfo, VideoReadError
from zoo.transforms import TARGET_FPS, pack_pathways, scaled_size, short_side_scale

#: The references' short-side jitter for their 224-pixel training crop (PySlowFast
#: ``DATA.TRAIN_JITTER_SCALES``), scaled to an entry's crop by :meth:`TrainSpec.from_entry`.
REFERENCE_JITTER = (256, 320)
REFERENCE_CROP = 224


@dataclass(frozen=True)
class TrainChoice:
    """The random choices behind one training clip: the clip's frames (indices into the
    video), the short side it was scaled to, the crop's top-left corner and the flip."""

    frames: tuple[int, ...]
    side: int
    y: int
    x: int
    flip: bool


@dataclass(frozen=True)
class TrainSpec:
    """An entry's training clip (see the module docstring for the steps and the draw order)."""

    num_frames: int
    sampling_rate: int
    crop_size: int
    min_scale: int
    max_scale: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    alpha: int | None = None
    flip: float = 0.5
    target_fps: float = TARGET_FPS

    def __post_init__(self):
        if not self.crop_size <= self.min_scale <= self.max_scale:
            raise ValueError(f"need crop_size <= min_scale <= max_scale, got {self.crop_size}, "
                             f"{self.min_scale}, {self.max_scale}")

    @classmethod
    def from_entry(cls, entry, *, crop_size: int | None = None, jitter: tuple[int, int] | None = None,
                   flip: float | None = None) -> TrainSpec:
        """The training clip of a :class:`zoo.ZooEntry`: its frames, rate, mean/std and pathways,
        as the entry's config trained it where the catalogue says (``train_crop_size``,
        ``train_jitter``, ``train_flip``: PySlowFast's ``DATA.TRAIN_CROP_SIZE``,
        ``TRAIN_JITTER_SCALES``, ``RANDOM_FLIP``; e.g. X3D-XS 160 in [182, 228], the R50 family
        224 in [256, 320], SSv2 without flips). ``crop_size`` overrides the crop (default the
        catalogue's, else the entry's test crop), the jitter then scaled by the same factor;
        without a catalogue jitter, the references' ``[256, 320]`` scaled by ``crop / 224``
        (rounded). ``flip``: the flip probability (default the catalogue's, else 0.5).

        Example:
            >>> import zoo
            >>> spec = TrainSpec.from_entry(zoo.get_entry("x3d_xs"))
            >>> spec.crop_size, (spec.min_scale, spec.max_scale), spec.flip
            (160, (182, 228), 0.5)
            >>> spec = TrainSpec.from_entry(zoo.get_entry("slow_r50_8x8_ssv2"), crop_size=112)
            >>> spec.crop_size, (spec.min_scale, spec.max_scale), spec.flip
            (112, (128, 160), 0.0)
        """
        extra = getattr(entry, "extra", None) or {}
        trained = int(extra.get("train_crop_size") or entry.crop_size)
        crop = int(crop_size or trained)
        if jitter is None:
            reference, at = (extra["train_jitter"], trained) if "train_jitter" in extra else (REFERENCE_JITTER, REFERENCE_CROP)
            jitter = tuple(int(round(s * crop / at)) for s in reference)
        flip = float(extra.get("train_flip", 0.5)) if flip is None else flip
        return cls(entry.num_frames, entry.sampling_rate, crop, int(jitter[0]), int(jitter[1]),
                   tuple(entry.mean), tuple(entry.std), entry.alpha if entry.arch == "slowfast" else None, flip)

    def clip_span(self, fps: float) -> float:
        """Frames of a file at ``fps`` that one clip spans."""
        return self.num_frames * self.sampling_rate / self.target_fps * fps

    def clip_frames(self, video_frames: int, fps: float, position: float) -> torch.Tensor:
        """The clip's frame indices for a start at ``position`` (in [0, 1)) of the slack."""
        span = self.clip_span(fps)
        start = position * max(video_frames - span, 0.0)
        return torch.linspace(start, start + span - 1, self.num_frames).clamp(0, video_frames - 1).long()

    def choose(self, video_frames: int, fps: float, height: int, width: int,
               generator: torch.Generator | None = None) -> TrainChoice:
        """Draw every random choice of a clip of a ``video_frames``-frame ``height x width`` video."""
        position = float(torch.rand(1, generator=generator))
        return self.choose_spatial(self.clip_frames(video_frames, fps, position), height, width, generator)

    def choose_spatial(self, frames: torch.Tensor, height: int, width: int,
                       generator: torch.Generator | None = None) -> TrainChoice:
        """The draws after the clip start (scale, crop ``y`` and ``x``, flip) for clip ``frames``."""
        side = int(torch.randint(self.min_scale, self.max_scale + 1, (1,), generator=generator))
        new_h, new_w = scaled_size(height, width, side)
        y = int(torch.randint(0, new_h - self.crop_size + 1, (1,), generator=generator))
        x = int(torch.randint(0, new_w - self.crop_size + 1, (1,), generator=generator))
        flip = bool(float(torch.rand(1, generator=generator)) < self.flip)
        return TrainChoice(tuple(int(i) for i in frames), side, y, x, flip)

    def apply(self, frames: torch.Tensor, choice: TrainChoice):
        """The clip ``choice`` describes, from uint8 ``(K, H, W, 3)`` frames: row ``k`` is frame
        ``sorted(set(choice.frames))[k]`` of the video (the frames a decoder kept), or the whole
        video when ``K`` covers every index. Returns float ``(3, T, crop, crop)``, or
        ``[slow, fast]`` for SlowFast."""
        distinct = sorted(set(choice.frames))
        if frames.shape[0] > max(distinct):
            rows = list(choice.frames)
        else:
            row_of = {f: r for r, f in enumerate(distinct)}
            rows = [row_of[f] for f in choice.frames]
        # (T, C, H, W) over the frames' own (T, H, W, C) memory: the float copy and the scaling
        # keep that layout (channels last), the same values with one copy less
        clip = frames.index_select(0, torch.tensor(rows, dtype=torch.long)).permute(0, 3, 1, 2).float()
        clip = short_side_scale(clip, choice.side)
        size = self.crop_size
        clip = clip[..., choice.y : choice.y + size, choice.x : choice.x + size]
        if clip.shape[-2:] != (size, size):
            raise ValueError(f"crop at ({choice.y}, {choice.x}) leaves the {clip.shape[-2]}x{clip.shape[-1]} frame")
        clip = clip.transpose(0, 1)  # (C, T, H, W), still a view
        if choice.flip:
            clip = clip.flip(-1)
        mean = torch.tensor(self.mean).view(3, 1, 1, 1) * 255.0
        std = torch.tensor(self.std).view(3, 1, 1, 1) * 255.0
        out = torch.empty(clip.shape)  # contiguous (C, T, H, W), normalised in one pass
        clip = torch.sub(clip, mean, out=out).div_(std)
        if self.alpha:
            slow, fast = pack_pathways(clip[None], self.alpha)
            return [slow[0], fast[0]]
        return clip

    def clip(self, frames: torch.Tensor, fps: float, generator: torch.Generator | None = None):
        """A training clip of a decoded video (uint8 ``(T, H, W, 3)``): ``(clip, choice)``."""
        choice = self.choose(frames.shape[0], fps, frames.shape[1], frames.shape[2], generator)
        return self.apply(frames, choice), choice


def read_train_clip(source, spec: TrainSpec, generator: torch.Generator | None = None, *,
                    thread_type: str | None = None):
    """A training clip of a video file or frame folder, decoding only the frames it needs.

    Returns ``(clip, choice, info)``. Video files go through :func:`zoo.input.video.decode_clips`
    (one forward decode up to the clip's last frame); the clip start is drawn once, before
    decoding, and placed on the length the decoder settles on.
    """
    position = float(torch.rand(1, generator=generator))
    from zoo.input.frames import is_frame_source, list_frames, read_frames

    if is_frame_source(source):
        paths = [str(p) for p in source] if isinstance(source, (list, tuple)) else list_frames(source)
        if not paths:
            raise VideoReadError(source, "no frames")
        fps = 30.0
        indices = spec.clip_frames(len(paths), fps, position)
        wanted = sorted({int(i) for i in indices})
        frames = read_frames([paths[i] for i in wanted])
        info = VideoInfo(str(source), fps, len(paths), len(paths), len(wanted), False)
    else:
        from zoo.input.video import decode_clips

        frames, _, clips, info = decode_clips(source, lambda n, fps: [spec.clip_frames(n, fps, position)],
                                              thread_type=thread_type)
        indices = clips[0]
    choice = spec.choose_spatial(indices, frames.shape[1], frames.shape[2], generator)
    return spec.apply(frames, choice), choice, info


def clip_seed(seed: int, epoch: int, index: int) -> int:
    """The generator seed of video ``index``'s clip in ``epoch``: the same clip whichever worker
    (or resumed run) makes it.

    Example:
        >>> clip_seed(0, 1, 2) == clip_seed(0, 1, 2) != clip_seed(0, 2, 1)
        True
    """
    return int.from_bytes(hashlib.sha256(f"{seed}:{epoch}:{index}".encode()).digest()[:7], "big")
