"""AVA test input: keyframe records, and each keyframe's clip and person boxes as the model sees them.

The protocol is the catalogue's (``ava_*`` fields of ``zoo/catalog/ava.toml``, each traced to
the PySlowFast file and key it comes from) and follows the reference
(``slowfast/datasets/ava_dataset.py`` with ``ava_helper.py`` and ``cv2_transform.py``):

- **Keyframes**: every second from 902 to 1798 (``ava_helper.AVA_VALID_FRAMES``) that has at
  least one predicted person box with score ``>= ava_box_threshold``
  (``AVA.DETECTION_SCORE_THRESH``); keyframes without such a box are not run.
- **Frames**: the 30 fps frames of seconds 900..1800 (``DATASET.md``: ``ffmpeg -ss 900 -t 901``
  then ``-r 30``). Frame ``i`` is at ``900 + i / 30`` s; keyframe second ``s`` is frame
  ``(s - 900) * 30`` (``ava_helper.get_keyframe_data``).
- **Clip**: frames ``range(c - N*R/2, c + N*R/2, R)`` around keyframe frame ``c``
  (``utils.get_sequence``: note it is not symmetric, the keyframe is clip frame ``N/2``),
  clamped to the first/last frame. SlowFast's slow pathway keeps ``linspace(0, N-1, N/alpha)``.
- **Spatial**: the short side scaled to ``crop_size`` (``DATA.TEST_CROP_SIZE``; long side
  floored) by ``cv2.resize(INTER_LINEAR)`` of the 8-bit frame, as ``cv2_transform.scale`` does
  (OpenCV itself: pixel for pixel the reference's), no crop; RGB; ``/255``, mean/std normalised.
- **Boxes**: normalised boxes times the frame size, clipped to ``[0, W-1] x [0, H-1]``, times
  the long side's scale factor (``cv2_transform.scale_boxes``), clipped to the scaled frame.

Two sources give the frames, both read once per video, keyframes in time order, decoded
frames kept only while a later keyframe still needs them:

- **frame folders** (first-class: the reference's input): ``<root>/<video>/*.jpg`` in name
  order (``<video>_000001.jpg`` = frame 0), decoded with ``torchvision.io.decode_jpeg`` in
  batches;
- **videos** ``<root>/<video>.<ext>``: the original movies, or the 15-minute files PySlowFast's
  ``DATASET.md`` cuts from them (``ffmpeg -ss 900 -t 901``: second 900 of the movie is their
  second 0; a file of 14.5 to 16 minutes is taken for one, :data:`CUT_FILE_S`; a shorter one, neither
  a movie nor its cut, fails as a video without the frames of seconds 900..1800). One PyAV
  pass from a seek to second 900 (the cut file's start) up to the last frame needed (never past
  second 1800), resampled to the 30 fps grid by taking the decoded frame nearest in time to each
  grid time (ties: the earlier), as ffmpeg's ``-r 30`` (fps filter, rounding to nearest) does.
  Times count from the stream's start, as ``ffmpeg -ss`` does; frames before second 900 are not
  used. Clips never reach the first or last frames (keyframes 902..1798 need frames 28..26,970
  of 27,000), so how the cut's edges are resampled does not matter.

Example:
    >>> import zoo
    >>> from zoo.input.keyframes import AvaProtocol
    >>> p = AvaProtocol.from_entry(zoo.get_entry("slow_r50_4x16_ava"))
    >>> p.keyframe_frame(902), p.clip_indices(902)
    (60, [28, 44, 60, 76])
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import av
import torch

from zoo.input.source import VIDEO_EXTENSIONS, VideoReadError, stream_seconds
from zoo.transforms import scaled_size

#: A frame: ``(video id, second)``.
FrameKey = tuple[str, int]


@dataclass(frozen=True)
class PersonBox:
    """A predicted person box (normalised coordinates) and the detector's score."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float

    @property
    def coords(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)

JPEG_EXTENSIONS = (".jpg", ".jpeg")


@dataclass(frozen=True)
class AvaProtocol:
    """The AVA test input of an entry (see the module docstring for each field's source)."""

    num_frames: int
    sampling_rate: int
    short_side: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    alpha: int | None = None
    box_threshold: float = 0.8
    fps: int = 30
    video_start_s: int = 900
    video_end_s: int = 1800
    first_keyframe_s: int = 902
    last_keyframe_s: int = 1798

    @classmethod
    def from_entry(cls, entry, **overrides) -> "AvaProtocol":
        """The protocol recorded in the catalogue for ``entry``; ``overrides`` replace fields."""
        extra = entry.extra
        protocol = cls(
            num_frames=entry.num_frames,
            sampling_rate=entry.sampling_rate,
            short_side=entry.crop_size,
            mean=tuple(entry.mean),
            std=tuple(entry.std),
            alpha=entry.alpha if entry.arch == "slowfast" else None,
            box_threshold=extra["ava_box_threshold"],
            fps=extra["ava_fps"],
            video_start_s=extra["ava_video_start_s"],
            video_end_s=extra["ava_video_end_s"],
            first_keyframe_s=extra["ava_first_keyframe_s"],
            last_keyframe_s=extra["ava_last_keyframe_s"],
        )
        return replace(protocol, **overrides)

    @property
    def keyframe_seconds(self) -> range:
        return range(self.first_keyframe_s, self.last_keyframe_s + 1)

    @property
    def nominal_frames(self) -> int:
        """Frames on the 30 fps grid of seconds ``video_start_s .. video_end_s``."""
        return (self.video_end_s - self.video_start_s) * self.fps

    def keyframe_frame(self, second: int) -> int:
        return (second - self.video_start_s) * self.fps

    def clip_indices(self, second: int, total_frames: int | None = None) -> list[int]:
        """Grid frames of the clip of keyframe ``second``, clamped to ``[0, total_frames - 1]``."""
        total = total_frames if total_frames is not None else self.nominal_frames
        centre, half = self.keyframe_frame(second), self.num_frames * self.sampling_rate // 2
        return [min(max(i, 0), total - 1) for i in range(centre - half, centre + half, self.sampling_rate)]


@dataclass(frozen=True)
class KeyframeRecord:
    """One keyframe to score: its video, second and the person boxes to classify."""

    video: str
    second: int
    boxes: tuple[PersonBox, ...] = field(repr=False)

    @property
    def key(self) -> str:
        return f"{self.video},{self.second:04d}"


def keyframe_records(person_boxes: dict[FrameKey, list[PersonBox]], protocol: AvaProtocol) -> list[KeyframeRecord]:
    """Keyframes with at least one person box, in the protocol's seconds, by video then second."""
    seconds = protocol.keyframe_seconds
    return [
        KeyframeRecord(video, second, tuple(boxes))
        for (video, second), boxes in sorted(person_boxes.items())
        if second in seconds and boxes
    ]


# --------------------------------------------------------------------------- frames and boxes


def scale_frames(frames: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``(N, 3, H, W)`` with the short side scaled to ``size`` (long side floored), uint8 ``(N, 3, h, w)``.

    Exactly as the reference (``cv2_transform.scale``): ``cv2.resize(INTER_LINEAR)`` of each
    8-bit frame; frames already at ``size`` are returned as they are. OpenCV itself does it
    because its 8-bit bilinear is fixed point (11-bit weights, its own rounding): float
    bilinear rounded back to 8 bit differs by one on about a tenth of the pixel values.

    Example (a 48x64 frame to short side 32: 32x42, every pixel as ``cv2.resize`` gives it):
        >>> frames = torch.arange(2 * 3 * 48 * 64).remainder(251).to(torch.uint8).reshape(2, 3, 48, 64)
        >>> scale_frames(frames, 32).shape
        torch.Size([2, 3, 32, 42])
        >>> scale_frames(frames, 48) is frames
        True
    """
    height, width = frames.shape[-2:]
    if min(height, width) == size:
        return frames
    if frames.dtype != torch.uint8:
        raise TypeError(f"scale_frames takes uint8 frames (as decoded), not {frames.dtype}")
    import cv2  # here, not at the top: ``import zoo`` stays free of OpenCV

    new_h, new_w = scaled_size(height, width, size)
    out = torch.empty((frames.shape[0], new_h, new_w, frames.shape[1]), dtype=torch.uint8)
    for k, frame in enumerate(frames):
        # one (H, W, 3) frame per call, as the reference calls it; the channel order does not
        # matter (each channel is scaled on its own), so RGB frames give the reference's BGR result reversed
        scaled = cv2.resize(frame.permute(1, 2, 0).contiguous().numpy(), (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        out[k] = torch.from_numpy(scaled)
    return out.permute(0, 3, 1, 2).contiguous()


def scale_boxes(boxes: Sequence[PersonBox], height: int, width: int, size: int) -> torch.Tensor:
    """Normalised person boxes -> ``(K, 4)`` pixel boxes on the frame scaled to ``size``.

    As the reference: to pixels of the original frame, clipped to ``[0, W-1] x [0, H-1]``,
    both axes times the *long* side's factor (``new_long / long``, with the floored new
    long side), clipped to the scaled frame.
    """
    xyxy = torch.tensor([b.coords for b in boxes], dtype=torch.float64).reshape(-1, 4)
    xyxy[:, [0, 2]] = (xyxy[:, [0, 2]] * width).clamp(0, width - 1)
    xyxy[:, [1, 3]] = (xyxy[:, [1, 3]] * height).clamp(0, height - 1)
    new_h, new_w = (height, width) if min(height, width) == size else scaled_size(height, width, size)
    if (new_h, new_w) != (height, width):
        xyxy *= new_h / height if width < height else new_w / width
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clamp(0, new_w - 1)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clamp(0, new_h - 1)
    return xyxy.float()


def model_input(frames: torch.Tensor, protocol: AvaProtocol):
    """uint8 ``(T, 3, h, w)`` scaled frames -> normalised ``(1, 3, T, h, w)``, or ``[slow, fast]``."""
    clip = frames.permute(1, 0, 2, 3).float().div_(255.0)
    mean = torch.tensor(protocol.mean).view(3, 1, 1, 1)
    std = torch.tensor(protocol.std).view(3, 1, 1, 1)
    clip = clip.sub_(mean).div_(std)[None]
    if protocol.alpha:
        slow = torch.linspace(0, clip.shape[2] - 1, clip.shape[2] // protocol.alpha).long()
        return [clip.index_select(2, slow), clip]
    return clip


# --------------------------------------------------------------------------- sources


def find_source(root, video: str) -> tuple[str, Path]:
    """``("frames", folder)`` or ``("video", file)`` for ``video`` under ``root``; raises if neither."""
    root = Path(root)
    folder = root / video
    if folder.is_dir():
        return "frames", folder
    for ext in VIDEO_EXTENSIONS:
        path = root / f"{video}{ext}"
        if path.exists():
            return "video", path
    raise VideoReadError(root / video, f"missing: no frame folder {video}/ and no video {video}.<{'|'.join(e[1:] for e in VIDEO_EXTENSIONS)}> under {root}")


@dataclass
class KeyframeClip:
    """A keyframe's model input: ``frames`` uint8 ``(T, 3, h, w)`` scaled, ``boxes`` ``(K, 4)`` pixels."""

    index: int  # position in the records list
    frames: torch.Tensor
    boxes: torch.Tensor


class _Window:
    """Scaled frames by grid index, kept only while a later keyframe needs them."""

    def __init__(self):
        self.frames: dict[int, torch.Tensor] = {}

    def drop_before(self, index: int) -> None:
        for i in [i for i in self.frames if i < index]:
            del self.frames[i]


def _emit(record: KeyframeRecord, index: int, indices: list[int], window: _Window, original_hw, protocol) -> KeyframeClip:
    frames = torch.stack([window.frames[i] for i in indices])
    boxes = scale_boxes(record.boxes, *original_hw, protocol.short_side)
    return KeyframeClip(index, frames, boxes)


def folder_clips(folder, jobs: list[tuple[int, KeyframeRecord]], protocol: AvaProtocol, stats: dict | None = None) -> Iterator[KeyframeClip]:
    """Clips of one video's keyframes (``(index, record)`` in time order) from its JPEG folder."""
    from torchvision.io import decode_jpeg

    folder = Path(folder)
    names = sorted(p.name for p in os.scandir(folder) if p.name.lower().endswith(JPEG_EXTENSIONS))
    if not names:
        raise VideoReadError(folder, "frame folder holds no .jpg frames")
    window = _Window()
    original_hw = None
    for index, record in jobs:
        indices = protocol.clip_indices(record.second, len(names))
        window.drop_before(min(indices))
        todo = sorted(set(indices) - set(window.frames))
        if todo:
            data = []
            for i in todo:
                path = folder / names[i]
                try:
                    data.append(torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8))
                except OSError as err:
                    raise VideoReadError(path, f"unreadable frame ({err})") from None
            try:
                decoded = decode_jpeg(data, mode=_rgb_mode())
            except RuntimeError as err:
                raise VideoReadError(folder, f"a frame of {names[todo[0]]}..{names[todo[-1]]} is not a readable JPEG ({err})") from None
            sizes = {tuple(d.shape[-2:]) for d in decoded}
            if original_hw is None:
                original_hw = next(iter(sizes))
            if len(sizes) != 1 or next(iter(sizes)) != original_hw:
                raise VideoReadError(folder, f"frames of different sizes {sorted(sizes | {original_hw})}")
            scaled = scale_frames(torch.stack(decoded), protocol.short_side)
            for i, frame in zip(todo, scaled):
                window.frames[i] = frame
            if stats is not None:
                stats["decoded_frames"] = stats.get("decoded_frames", 0) + len(todo)
        yield _emit(record, index, indices, window, original_hw, protocol)


def _rgb_mode():
    from torchvision.io import ImageReadMode

    return ImageReadMode.RGB


#: The lengths of video taken for PySlowFast's 15-minute cut of a movie (seconds 900..1801 of it,
#: so 901 s long) rather than the movie itself (at least 1800 s: AVA annotates its 15th to 30th
#: minute). A shorter file (a download cut short) is not taken for a cut: its minutes are not 900..
CUT_FILE_S = (870.0, 960.0)


def video_clips(path, jobs: list[tuple[int, KeyframeRecord]], protocol: AvaProtocol, stats: dict | None = None,
                thread_type: str | None = None) -> Iterator[KeyframeClip]:
    """Clips of one video's keyframes from one PyAV pass over seconds ``900..1800`` of ``path``."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise VideoReadError(path, "zero-length file")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as err:
        raise VideoReadError(path, f"unreadable ({err.__class__.__name__}: {err})") from None
    try:
        yield from _video_clips(container, path, jobs, protocol, stats, thread_type)
    except av.error.FFmpegError as err:
        raise VideoReadError(path, f"decoding failed ({err.__class__.__name__}: {err})") from None
    finally:
        container.close()


def _video_clips(container, path, jobs, protocol, stats, thread_type):
    if not container.streams.video:
        raise VideoReadError(path, "no video stream")
    stream = container.streams.video[0]
    if thread_type:
        stream.thread_type = thread_type
    time_base = float(stream.time_base)
    start_pts = stream.start_time or 0
    fps = protocol.fps
    plans = [(index, record, protocol.clip_indices(record.second)) for index, record in jobs]
    needed = sorted({i for _, _, indices in plans for i in indices})
    if not needed:
        return
    duration = stream_seconds(container, stream)
    # the 15-minute cut starts at the movie's second 900; the movie itself, 900 s in
    start_s = 0 if duration is not None and CUT_FILE_S[0] <= duration <= CUT_FILE_S[1] else protocol.video_start_s
    if start_s:
        container.seek(start_pts + int(start_s / time_base), stream=stream, backward=True)

    window = _Window()
    original_hw = None
    pending = 0  # next plan to emit
    grid_next = 0  # position in ``needed`` of the next grid frame to resolve
    span = protocol.video_end_s - protocol.video_start_s
    decoded = 0

    def scaled(frame) -> torch.Tensor:
        nonlocal original_hw
        array = torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1)
        if original_hw is None:
            original_hw = tuple(array.shape[-2:])
        return scale_frames(array[None], protocol.short_side)[0]

    def resolve(limit: float | None, frame) -> None:
        """``frame`` serves every needed grid frame whose time is ``<= limit`` (all: ``None``)."""
        nonlocal grid_next
        image = None
        while grid_next < len(needed) and (limit is None or needed[grid_next] / fps <= limit):
            if image is None:
                image = scaled(frame)
            window.frames[needed[grid_next]] = image
            grid_next += 1

    def ready():
        nonlocal pending
        while pending < len(plans) and all(i in window.frames for i in plans[pending][2]):
            index, record, indices = plans[pending]
            yield _emit(record, index, indices, window, original_hw, protocol)
            pending += 1
            if pending < len(plans):
                window.drop_before(min(plans[pending][2]))

    previous = None  # (time, frame): the last decoded frame
    for frame in container.decode(stream):
        if frame.pts is None:
            raise VideoReadError(path, "frames without timestamps")
        t = (frame.pts - start_pts) * time_base - start_s  # seconds on the grid
        decoded += 1
        if t >= span:
            break  # never past second 1800
        if t < 0:
            continue  # the seek lands on a keyframe before second 900; the cut file starts at 900
        if previous is not None:
            # A decoded frame serves the grid times nearer to it than to the next one
            # (a time exactly half way takes the earlier frame).
            resolve((previous[0] + t) / 2, previous[1])
            yield from ready()
            if grid_next >= len(needed):
                break
        previous = (t, frame)
    if previous is None:
        raise VideoReadError(path, f"no frames between seconds {protocol.video_start_s} and {protocol.video_end_s}"
                             + (f" (a {duration:.0f} s video: the whole movie, or its 15-minute cut of "
                                f"{CUT_FILE_S[0]:.0f} to {CUT_FILE_S[1]:.0f} s)" if duration else ""))
    if grid_next < len(needed):
        wanted_t = needed[grid_next] / fps
        if wanted_t > previous[0] + 1.0:
            raise VideoReadError(path, f"truncated: no frames after {previous[0] + protocol.video_start_s:.2f} s, "
                                       f"frames up to {needed[-1] / fps + protocol.video_start_s:.2f} s needed")
        resolve(None, previous[1])  # the stream's last frame serves the rest (clamped clips)
    yield from ready()
    if stats is not None:
        stats["decoded_frames"] = stats.get("decoded_frames", 0) + decoded


def read_keyframes(root, video: str, jobs: list[tuple[int, KeyframeRecord]], protocol: AvaProtocol,
                   stats: dict | None = None) -> Iterator[KeyframeClip]:
    """Clips of ``jobs`` (one video's keyframes) from its frame folder or video under ``root``."""
    kind, path = find_source(root, video)
    jobs = sorted(jobs, key=lambda job: job[1].second)
    if kind == "frames":
        return folder_clips(path, jobs, protocol, stats)
    return video_clips(path, jobs, protocol, stats)


class KeyframeClips(torch.utils.data.IterableDataset):
    """Keyframe clips of ``records`` read one video at a time; videos are split over workers.

    Yields ``{"index", "clip", "boxes", "decode_s"}`` per keyframe, or
    ``{"video", "path", "error", "indices"}`` for the keyframes of a video that failed.
    """

    def __init__(self, records: list[KeyframeRecord], root, protocol: AvaProtocol):
        self.root, self.protocol = root, protocol
        self.videos: dict[str, list[tuple[int, KeyframeRecord]]] = {}
        for index, record in enumerate(records):
            self.videos.setdefault(record.video, []).append((index, record))

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        names = sorted(self.videos)
        if info is not None:
            names = names[info.id :: info.num_workers]
        for video in names:
            jobs = self.videos[video]
            done: set[int] = set()
            start = time.perf_counter()
            try:
                for clip in read_keyframes(self.root, video, jobs, self.protocol):
                    done.add(clip.index)
                    elapsed = time.perf_counter() - start
                    yield {"index": clip.index, "clip": clip.frames, "boxes": clip.boxes, "decode_s": elapsed}
                    start = time.perf_counter()
            except VideoReadError as err:
                yield {"video": video, "path": err.path, "error": err.reason, "indices": [i for i, _ in jobs if i not in done]}
            except Exception as err:  # one bad video must not end a long run; name it instead
                yield {"video": video, "path": str(Path(self.root) / video), "error": f"{err.__class__.__name__}: {err}",
                       "indices": [i for i, _ in jobs if i not in done]}
