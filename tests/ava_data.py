"""A tiny AVA-layout data set whose pixels say what they are, and a detector that knows the answer.

Each video shows coloured squares (one colour per action class) moving on a grey background;
the top-left 16x8 block of frame ``f`` (on the 30 fps grid from second 900) encodes ``f`` as
:func:`tests.videos.index_frame` does, so a test reads back which frame a clip holds. The
squares move fast (a 12-pixel swing every 80 frames), so a clip centred one second off would
see them elsewhere. Boxes are the squares' true positions at each keyframe.

The same content comes as frame folders (``<root>/frames/<video>/<video>_000001.jpg`` = second
900.0, as PySlowFast's DATASET.md extracts them) and as "original" videos
(``<root>/videos/<video>.mp4``: seconds 0..900 at 1 fps as a cheap lead-in, then 30 fps, so
the annotated part starts at second 900 as in the real files).
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from torch import nn

HEIGHT, WIDTH = 48, 64
FPS = 30
SECONDS = 6  # frames of seconds 900..906
SIDE = 12  # square size
GREY = 128
COLOURS = {1: (220, 40, 40), 2: (40, 200, 40), 3: (40, 40, 220)}
#: video -> [(class, centre x, centre y, phase)]
SHAPES = {
    "vidA": [(1, 18, 28, 0.0), (2, 46, 34, 0.25)],
    "vidB": [(2, 20, 36, 0.5), (3, 44, 26, 0.1)],
}
KEYFRAMES = (902, 903, 904)
DISTRACTOR = (0.80, 0.05, 0.95, 0.25)  # a "person" box on background (normalised)


def shape_box(cx: float, cy: float, phase: float, f: int) -> tuple[int, int, int, int]:
    """Pixel box ``x1, y1, x2, y2`` (exclusive end) of a square at grid frame ``f``."""
    x = cx + 12 * math.sin(2 * math.pi * (f / 80 + phase))
    x1, y1 = int(round(x - SIDE / 2)), int(round(cy - SIDE / 2))
    return x1, y1, x1 + SIDE, y1 + SIDE


def frame_image(video: str, f: int) -> np.ndarray:
    frame = np.full((HEIGHT, WIDTH, 3), GREY, dtype=np.uint8)
    frame[:8, :16, 0] = (f % 16) * 16 + 8
    frame[:8, :16, 1] = (f // 16) * 16 + 8
    frame[:8, :16, 2] = 8
    for cls, cx, cy, phase in SHAPES[video]:
        x1, y1, x2, y2 = shape_box(cx, cy, phase, f)
        frame[y1:y2, x1:x2] = COLOURS[cls]
    return frame


def frame_number(rgb: torch.Tensor) -> int:
    """Grid frame encoded in a ``(3, H, W)`` uint8 frame at the data set's own size."""
    block = rgb[:, 1:7, 1:15].float()
    r, g = float(block[0].median()), float(block[1].median())
    return int(round((r - 8) / 16)) + 16 * int(round((g - 8) / 16))


def normalised(box) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box
    return (round(x1 / WIDTH, 4), round(y1 / HEIGHT, 4), round(x2 / WIDTH, 4), round(y2 / HEIGHT, 4))


def write_frame_folders(root) -> Path:
    from torchvision.io import encode_jpeg

    root = Path(root)
    for video in SHAPES:
        folder = root / video
        folder.mkdir(parents=True, exist_ok=True)
        for f in range(SECONDS * FPS):
            data = encode_jpeg(torch.from_numpy(frame_image(video, f)).permute(2, 0, 1).contiguous(), quality=95)
            (folder / f"{video}_{f + 1:06d}.jpg").write_bytes(data.numpy().tobytes())
    return root


def write_video(path, frames_at: list[tuple[float, np.ndarray]]) -> Path:
    """An H.264 file with frames at the given times (seconds; variable frame rate allowed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.height, stream.width = HEIGHT, WIDTH
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, 600)
        stream.codec_context.time_base = Fraction(1, 600)
        stream.options = {"crf": "1", "preset": "ultrafast", "g": "30"}
        for seconds, array in frames_at:
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = int(round(seconds * 600))
            frame.time_base = Fraction(1, 600)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_videos(root, fps: int = FPS, videos=tuple(SHAPES), cut: bool = False) -> Path:
    """``<root>/<video>.mp4``: a 1 fps lead-in to second 900, then the clip at ``fps``, and one
    frame at second 1799 (a movie runs past the annotated 15th to 30th minute). ``cut``: as
    PySlowFast's 15-minute files instead (``ffmpeg -ss 900 -t 901``): the clip from second 0, and one
    frame at second 900 (the cut's length).

    At another frame rate than 30, source frame ``j`` shows grid frame ``round(j * 30 / fps)``'s
    content and index (so the test can check which source frame the reader picked).
    """
    root = Path(root)
    grey = np.full((HEIGHT, WIDTH, 3), GREY, dtype=np.uint8)
    lead_in = [] if cut else [(float(s), grey) for s in range(0, 900)]
    tail = [(900.0, grey)] if cut else [(1799.0, grey)]
    start = 0 if cut else 900
    for video in videos:
        body = []
        for j in range(SECONDS * fps):
            f = j if fps == FPS else round(j * FPS / fps)
            image = frame_image(video, f)
            if fps != FPS:  # the index block says the source frame, not the grid frame
                image[:8, :16, 0] = (j % 16) * 16 + 8
                image[:8, :16, 1] = (j // 16) * 16 + 8
            body.append((start + j / fps, image))
        write_video(root / f"{video}.mp4", lead_in + body + tail)
    return root


def write_annotations(root, *, label_map_ids=(1, 2, 3, 5), low_score_box: bool = True) -> dict[str, Path]:
    """Ground truth, predicted boxes (truth boxes + a distractor, and a box under the threshold),
    a label map and an excluded-timestamps file (empty of real frames) under ``root``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    truth, boxes = [], []
    for video, shapes in SHAPES.items():
        for second in KEYFRAMES:
            f = (second - 900) * FPS
            for person, (cls, cx, cy, phase) in enumerate(shapes):
                box = ",".join(f"{v:.4f}" for v in normalised(shape_box(cx, cy, phase, f)))
                truth.append(f"{video},{second:04d},{box},{cls},{person}")
                boxes.append(f"{video},{second:04d},{box},,0.95")
                boxes.append(f"{video},{second:04d},{box},{cls},0.95")  # listed again with a label: kept once
            boxes.append(f"{video},{second:04d}," + ",".join(f"{v:.4f}" for v in DISTRACTOR) + ",,0.92")
            if low_score_box:
                boxes.append(f"{video},{second:04d},0.1000,0.1000,0.3000,0.3000,,0.50")
    paths = {
        "annotations": root / "ava_val_v2.2.csv",
        "boxes": root / "boxes.csv",
        "label_map": root / "ava_action_list_v2.2_for_activitynet_2019.pbtxt",
        "excluded": root / "ava_val_excluded_timestamps_v2.2.csv",
    }
    paths["annotations"].write_text("\n".join(truth) + "\n")
    paths["boxes"].write_text("\n".join(boxes) + "\n")
    items = "".join(f'item {{\n  name: "class {c}"\n  id: {c}\n}}\n' for c in label_map_ids)
    paths["label_map"].write_text(items)
    paths["excluded"].write_text("someothervideo,0902\n")
    return paths


class ColourBoxModel(nn.Module):
    """Scores each box by how close the mean colour inside it, on the keyframe, is to each class colour.

    Input as the detectors take it: a normalised clip ``(B, 3, T, H, W)`` (or ``[slow, fast]``)
    and boxes ``(K, 5)`` ``[batch index, x1, y1, x2, y2]`` in pixels. The keyframe is clip
    frame ``T // 2`` (the reference's clip is ``range(c - T*R/2, c + T*R/2, R)``). Outputs
    80 sigmoid-like scores (classes 1..3 from colour, the rest a constant 0.01).
    """

    output_activation = "sigmoid"

    def __init__(self, mean=0.45, std=0.225):
        super().__init__()
        self.mean, self.std = mean, std
        self.calls = 0

    def forward(self, clip, boxes):
        self.calls += 1
        frames = clip[1] if isinstance(clip, (list, tuple)) else clip
        key = (frames[:, :, frames.shape[2] // 2] * self.std + self.mean) * 255.0  # (B, 3, H, W)
        out = torch.full((len(boxes), 80), 0.01)
        for k, (b, x1, y1, x2, y2) in enumerate(boxes.tolist()):
            # the inner part of the box: bilinear scaling blurs the square's edge
            w, h = x2 - x1, y2 - y1
            xa, xb = int(round(x1 + 0.25 * w)), int(round(x2 - 0.25 * w))
            ya, yb = int(round(y1 + 0.25 * h)), int(round(y2 - 0.25 * h))
            colour = key[int(b), :, ya : yb + 1, xa : xb + 1].mean(dim=(1, 2))
            for cls, rgb in COLOURS.items():
                distance = float((colour - torch.tensor(rgb, dtype=torch.float32)).norm())
                out[k, cls - 1] = math.exp(-distance / 40.0)
        return out


def colour_model(entry) -> ColourBoxModel:
    """``--builder tests.ava_data:colour_model``."""
    return ColourBoxModel(entry.mean[0], entry.std[0])


class DiesOnRank1(ColourBoxModel):
    """Rank 1 of a torchrun job fails on its second keyframe (a rank that dies mid-share)."""

    def forward(self, clip, boxes):
        import os

        if os.environ.get("RANK") == "1" and self.calls == 1:
            raise RuntimeError("rank 1 stops here (test)")
        return super().forward(clip, boxes)


def colour_model_dying_on_rank_1(entry) -> DiesOnRank1:
    """``--builder tests.ava_data:colour_model_dying_on_rank_1``."""
    return DiesOnRank1(entry.mean[0], entry.std[0])
