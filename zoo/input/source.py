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
