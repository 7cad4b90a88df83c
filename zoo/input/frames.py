"""Frame-folder videos: a folder of JPEG (or PNG) frames, or an explicit list of frame files.

Something-Something V2 and Charades were tested by PySlowFast from JPEG frames, not from the
video files (``DATASET.md``: SSv2 frames extracted with ``ffmpeg -r 30 -q:v 1``, Charades the
``Charades_v1_rgb`` release), listed per video in PySlowFast's frame-list CSVs. PyTorchVideo's
``FrameVideo`` reads such a folder at a fixed 30 fps (frame ``k`` is at ``k / 30`` s) whatever
rate the frames were extracted at, and sorts a folder's files in natural order (``2.jpg``
before ``10.jpg``). This module does the same, and decodes only the frames the views need,
batched through ``torchvision.io.decode_jpeg`` (the same libjpeg-turbo decode, equal to the
reference's OpenCV ``imdecode`` pixel for pixel; ``tests/test_protocols.py`` checks it).

A missing, empty or corrupt frame raises :class:`~zoo.input.source.VideoReadError` naming the
frame file; the evaluator records the video as failed and goes on.

Example:
    >>> import tempfile, torch, zoo
    >>> from torchvision.io import encode_jpeg
    >>> from zoo.input.frames import read_frame_views
    >>> from zoo.transforms import InputSpec
    >>> folder = tempfile.mkdtemp()
    >>> for k in range(40):
    ...     _ = open(f"{folder}/{k + 1:06d}.jpg", "wb").write(
    ...         encode_jpeg(torch.full((3, 48, 64), 4 * k, dtype=torch.uint8)).numpy().tobytes())
    >>> spec = InputSpec.from_entry(zoo.get_entry("slow_r50_8x8_ssv2"), views="1x1")
    >>> views, info = read_frame_views(folder, spec.with_sizes(32, 32))
    >>> tuple(views.shape), info.fps, info.video_frames, info.decoded_frames
    ((1, 3, 8, 32, 32), 30.0, 40, 8)
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import torch
from torchvision.io import ImageReadMode, decode_image, decode_jpeg

from zoo.input.source import VIDEO_EXTENSIONS, VideoInfo, VideoReadError

#: File types a frame folder may hold.
FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png")

#: Frames are read at this rate when the protocol names none (PyTorchVideo ``FrameVideo``'s default).
DEFAULT_FRAME_FPS = 30.0


def is_frame_source(source) -> bool:
    """True for a folder or a list of frame files (not a video file)."""
    if isinstance(source, (list, tuple)):
        return True
    return Path(source).is_dir()


def _natural_key(name: str):
    # as FrameVideo.from_directory: digit runs compare as numbers
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def list_frames(folder) -> list[str]:
    """The frame files of ``folder`` in natural order (``frame_2`` before ``frame_10``)."""
    folder = Path(folder)
    names = [n for n in os.listdir(folder) if os.path.splitext(n)[1].lower() in FRAME_EXTENSIONS]
    return [str(folder / n) for n in sorted(names, key=_natural_key)]


def read_frames(paths: Sequence[str]) -> torch.Tensor:
    """Decode frame files into uint8 ``(K, H, W, 3)`` RGB; JPEGs in one batched call.

    Raises :class:`VideoReadError` naming the first missing, empty or undecodable file.
    """
    data = []
    for path in paths:
        try:
            raw = Path(path).read_bytes()
        except FileNotFoundError:
            raise VideoReadError(path, "missing frame file") from None
        if not raw:
            raise VideoReadError(path, "empty frame file")
        data.append(torch.frombuffer(bytearray(raw), dtype=torch.uint8))
    if all(str(p).lower().endswith((".jpg", ".jpeg")) for p in paths):
        try:
            images = decode_jpeg(data, mode=ImageReadMode.RGB)
        except RuntimeError:
            images = None  # find the culprit below, one file at a time
        if images is not None:
            return _stack(images, paths)
    images = []
    for path, raw in zip(paths, data):
        try:
            images.append(decode_image(raw, mode=ImageReadMode.RGB))
        except RuntimeError as err:
            raise VideoReadError(path, f"corrupt frame ({err})") from None
    return _stack(images, paths)


def _stack(images: list[torch.Tensor], paths: Sequence[str]) -> torch.Tensor:
    shapes = {tuple(i.shape) for i in images}
    if len(shapes) > 1:
        first = tuple(images[0].shape)
        odd = next(p for p, i in zip(paths, images) if tuple(i.shape) != first)
        raise VideoReadError(odd, f"frame size {tuple(images[paths.index(odd)].shape)} differs from {first}")
    return torch.stack(images).permute(0, 2, 3, 1).contiguous()


def read_frame_views(source, spec, fps: float | None = None):
    """All views of ``spec`` from a frame folder (or list of frame files), reading only needed frames.

    ``fps``: the rate the frames were extracted at; by default the protocol's (``frame_rate``),
    else :data:`DEFAULT_FRAME_FPS`, as the reference's loaders read their datasets' frames.

    Returns ``(views, info)`` as :func:`zoo.input.video.read_views` does.
    """
    name = str(source) if not isinstance(source, (list, tuple)) else str(Path(source[0]).parent) if source else "<no frames>"
    if isinstance(source, (list, tuple)):
        paths = [str(p) for p in source]
    else:
        if not Path(source).exists():
            raise VideoReadError(source, "missing frame folder")
        paths = list_frames(source)
    if not paths:
        videos = [] if isinstance(source, (list, tuple)) else [
            p for p in sorted(Path(source).iterdir()) if p.suffix.lower() in VIDEO_EXTENSIONS]
        if videos:  # a folder of videos is read as one frame-folder video: say what to pass instead
            raise VideoReadError(name, f"no frames (no .jpg/.jpeg/.png files); it holds {len(videos)} video "
                                 f"file(s), e.g. {videos[0].name}: give the video files themselves (e.g. {name}/*{videos[0].suffix})")
        raise VideoReadError(name, "no frames (no .jpg/.jpeg/.png files)")
    fps = fps or spec.frame_rate or DEFAULT_FRAME_FPS
    try:
        indices = spec.clip_indices(len(paths), fps)
    except ValueError as err:
        raise VideoReadError(name, str(err)) from None
    wanted = sorted({int(i) for clip in indices for i in clip})
    frames = read_frames([paths[i] for i in wanted])
    rows = {frame: row for row, frame in enumerate(wanted)}
    info = VideoInfo(name, fps, len(paths), len(paths), len(wanted), False)
    return spec.views_from_indices(frames, indices, rows), info
