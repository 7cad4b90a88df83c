"""Test videos whose pixels say what they are, and a model whose answer is known.

- :func:`write_index_video`: frame ``t`` carries ``t`` in its red/green levels and every
  16-pixel block along the long side carries its block number in blue, so a test can read
  back which frame and which region a view holds (levels 16 apart survive H.264).
- :func:`write_colour_video`: a uniform grey level per video, read by :class:`ColourModel`.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import torch
from torch import nn

BLOCK = 16  # pixels per block along the long side


def index_frame(t: int, height: int, width: int) -> np.ndarray:
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[..., 0] = (t % 16) * 16 + 8
    frame[..., 1] = (t // 16) * 16 + 8
    along = np.arange(max(height, width)) // BLOCK * 32 + 16
    if width >= height:
        frame[..., 2] = along[None, :width]
    else:
        frame[..., 2] = along[:height, None]
    return frame


def write_frames(path, frames, fps: int, codec: str = "libx264", bframes: int = 0) -> Path:
    """Encode ``frames`` (uint8 ``(H, W, 3)``); with libx264, ``bframes`` non-reference
    B-frames between reference frames in a fixed pattern (0: none, as ``ultrafast`` makes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            # a keyframe every second, as real videos have, so seeking has somewhere to land
            stream.options = {"crf": "1", "preset": "ultrafast", "g": str(fps)}
            if bframes:
                stream.options["x264-params"] = f"bframes={bframes}:b-adapt=0:b-pyramid=none:scenecut=0"
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_index_video(path, num_frames: int, fps: int, height: int = 48, width: int = 96) -> Path:
    """A video whose frame ``t`` encodes ``t`` (see :func:`frame_number`)."""
    return write_frames(path, [index_frame(t, height, width) for t in range(num_frames)], fps)


def nvop_packet(increment: int) -> bytes:
    """An MPEG-4 part 2 B-VOP header with ``vop_coded = 0`` (an N-VOP, as DivX and XviD write for
    a dropped frame): a stamped packet that decodes to no picture. ``increment``: the VOP's
    time increment, 5 bits (the encoder's time increment resolution is 30 at 30 fps)."""
    bits = "10" + "0" + "1" + format(increment % 30, "05b") + "1" + "0"
    bits += "0" + "1" * ((8 - (len(bits) + 1) % 8) % 8)
    return b"\x00\x00\x01\xb6" + int(bits, 2).to_bytes(len(bits) // 8, "big")


def write_nvop_video(path, num_frames: int, nvop_frames, height: int = 48, width: int = 96) -> Path:
    """An MPEG-4 part 2 file at 30 fps (B-frames, frame ``t`` encoding ``t``) whose pictures
    ``nvop_frames`` (B-frames, so no other picture refers to them) are N-VOPs: their packets keep
    their timestamps but decode to no picture. The container is ``path``'s suffix."""
    path = Path(path)
    source = path.with_name(path.stem + "-source.mkv")
    with av.open(str(source), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.height, stream.width, stream.pix_fmt = height, width, "yuv420p"
        stream.options = {"qscale": "2"}
        stream.codec_context.max_b_frames = 2
        for t in range(num_frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(index_frame(t, height, width), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(str(source)) as inp, av.open(str(path), "w") as out:
        stream = inp.streams.video[0]
        copy = out.add_stream_from_template(stream)
        for packet in inp.demux(stream):
            if not packet.size:
                continue
            t = round(packet.pts * stream.time_base * 30)
            if t in nvop_frames:
                nvop = av.Packet(nvop_packet(t))
                nvop.pts, nvop.dts, nvop.time_base = packet.pts, packet.dts, packet.time_base
                packet = nvop
            packet.stream = copy
            out.mux(packet)
    source.unlink()
    return path


def frame_number(rgb: torch.Tensor) -> int:
    """Frame index encoded in a ``(3, ...)`` RGB tensor in [0, 255] (robust to codec noise)."""
    r = float(rgb[0].float().median())
    g = float(rgb[1].float().median())
    return int(round((r - 8) / 16)) + 16 * int(round((g - 8) / 16))


def block_number(value: float) -> int:
    """Block index along the long side from a blue level."""
    return int(round((value - 16) / 32))


def write_colour_video(path, level: int, num_frames: int = 12, fps: int = 30, height: int = 32, width: int = 40) -> Path:
    frame = np.full((height, width, 3), level, dtype=np.uint8)
    return write_frames(path, [frame] * num_frames, fps)


#: Grey level of the videos of "colour class" ``c``.
def colour_level(c: int) -> int:
    return 30 + 50 * c


class ColourModel(nn.Module):
    """Knows the answer: logits favour the class whose grey level is the input's mean level.

    Undoes the entry's normalisation, so the answer is the video's colour class
    (:func:`colour_level`) whatever the views. Takes a tensor or SlowFast's ``[slow, fast]``.
    """

    def __init__(self, entry, num_classes: int = 4):
        super().__init__()
        self.register_buffer("mean", torch.tensor(entry.mean).view(1, 3, 1, 1, 1))
        self.register_buffer("std", torch.tensor(entry.std).view(1, 3, 1, 1, 1))
        self.register_buffer("levels", torch.tensor([float(colour_level(c)) for c in range(num_classes)]))

    def forward(self, x):
        if isinstance(x, (list, tuple)):
            x = x[-1]
        pixels = (x * self.std + self.mean) * 255.0
        level = pixels.mean(dim=(1, 2, 3, 4))
        return -(level[:, None] - self.levels[None]).abs() / 10.0


def colour_model(entry) -> ColourModel:
    """Model factory for ``evaluate(..., model_factory=...)`` and ``zoo evaluate --builder``."""
    return ColourModel(entry, num_classes=4)


class SlowColourModel(ColourModel):
    """:class:`ColourModel` that sleeps ``VIDEOZOO_TEST_DELAY`` seconds per call (to kill a run midway)."""

    def forward(self, x):
        import os
        import time

        time.sleep(float(os.environ.get("VIDEOZOO_TEST_DELAY", "0")))
        return super().forward(x)


def slow_colour_model(entry) -> SlowColourModel:
    return SlowColourModel(entry, num_classes=4)


def write_colour_dataset(root, classes_and_labels, name: str = "val.txt") -> Path:
    """Videos ``v<i>.mp4`` of colour class ``c`` labelled ``label``, listed as ``path label``."""
    root = Path(root)
    lines = []
    for i, (c, label) in enumerate(classes_and_labels):
        write_colour_video(root / f"v{i}.mp4", colour_level(c))
        lines.append(f"v{i}.mp4 {label}")
    (root / name).write_text("\n".join(lines) + "\n")
    return root / name


def write_demo_class_folders(root) -> Path:
    """``root/<class>/<i>.mp4``: two of the demo's motions, 6 videos each (the fine-tuning tests' data)."""
    from benchmarks.demo.videos import CLASSES, VideoSpec, render_frames, write_video

    for label in (0, 1):
        for i in range(6):
            spec = VideoSpec(label, 25, 40, seed=100 * label + i)
            write_video(Path(root) / CLASSES[label] / f"{i}.mp4", render_frames(spec), spec.fps)
    return Path(root)
