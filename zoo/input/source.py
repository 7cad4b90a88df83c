"""What every video reader shares: the error a bad video raises, what a decode found, file types.

Kept apart from the decoders so that a caller can name these without importing PyAV (the
video decoder, :mod:`zoo.input.video`, imports it) and so the readers of video files,
frame folders and AVA keyframes all raise and return the same things.

Example:
    >>> from zoo.input.source import VideoReadError
    >>> err = VideoReadError("clips/a.mp4", "zero-length file")
    >>> str(err), err.reason
    ('clips/a.mp4: zero-length file', 'zero-length file')
"""

from __future__ import annotations

import os
from dataclasses import dataclass

def stream_seconds(container, stream) -> float | None:
    """A PyAV video stream's length in seconds, as its header gives it: the stream's duration,
    else the container's (webm declares only that); None when neither is known.

    Example:
        >>> from types import SimpleNamespace
        >>> from fractions import Fraction
        >>> stream_seconds(SimpleNamespace(duration=None), SimpleNamespace(duration=9000, time_base=Fraction(1, 900)))
        10.0
        >>> stream_seconds(SimpleNamespace(duration=2_500_000), SimpleNamespace(duration=None, time_base=None))
        2.5
    """
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return container.duration / 1_000_000 if container.duration else None  # AV_TIME_BASE: microseconds


#: File types taken for videos where a folder may also hold other files.
VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v")


class VideoReadError(RuntimeError):
    """A video that cannot be used; ``reason`` is a short phrase, ``path`` the file.

    Example:
        >>> from zoo.input.video import read_views
        >>> from zoo.transforms import InputSpec
        >>> import zoo
        >>> try:
        ...     read_views("no_such_clip.mp4", InputSpec.from_entry(zoo.get_entry("x3d_xs")))
        ... except VideoReadError as err:
        ...     print(err.path, "|", err.reason)
        no_such_clip.mp4 | missing file
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class VideoInfo:
    """What the decode found: the file's frame rate and length, and what it cost."""

    path: str
    fps: float
    video_frames: int  # length the clip indices were computed on
    declared_frames: int  # frame count in the container (0 when it declares none)
    decoded_frames: int  # frames actually decoded (the work done)
    seeked: bool
