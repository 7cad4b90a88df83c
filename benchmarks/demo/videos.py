"""The demo dataset: short synthetic action videos, rendered deterministically with PyAV.

Each video shows one shape (square or disk, random colour and size) on a noisy background
doing one of five actions (:data:`CLASSES`): moving left, right, up or down, or growing in
place. Two other shapes of similar size drift at random as distractors and the frames are
noisy, so the action has to be read from the motion of the right object, not from any single
frame, and the task is not trivially solved (the demo model does not reach 100%). Videos are 64x48 MPEG-4 (part 2, in .mp4) at
25 or 30 fps, 1.6-2.4 s long; everything (shapes, colours, speeds, fps, noise) comes from
one seed, so the same call renders the same files everywhere.

The annotation files are the plain Kinetics-style list ``<relative path> <class index>``,
one video per line, next to a ``classes.txt`` (one class name per line, in index order).

Example:
    >>> import tempfile
    >>> from benchmarks.demo.videos import generate
    >>> files = generate(tempfile.mkdtemp(), {"val": 5}, progress=False)
    >>> len(open(files["val"]).read().splitlines())
    5
"""

from __future__ import annotations

import json
import os
from fractions import Fraction
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.runtime.files import atomic_path, atomic_write

#: Class names, in class-index order (the demo model's output order).
CLASSES = ("moving_left", "moving_right", "moving_up", "moving_down", "growing")

#: The demo's transfer task (:mod:`benchmarks.perf.transfer_demo`): new classes, the same world.
TRANSFER_CLASSES = ("moving_diagonal_down_right", "moving_diagonal_up_left", "shrinking")

#: Split sizes the demo uses: the model is trained on ``train`` and its published accuracy
#: is measured on the held-out ``val`` videos (a different seed stream, never trained on).
DEFAULT_SPLITS = {"train": 300, "val": 100}

WIDTH, HEIGHT = 64, 48
#: Bump when the rendering changes, so cached datasets are regenerated.
FORMAT_VERSION = 3


@dataclass(frozen=True)
class VideoSpec:
    """Everything needed to render one video."""

    label: int
    fps: int
    num_frames: int
    seed: int
    #: the action drawn (default ``CLASSES[label]``); the transfer task's are :data:`TRANSFER_CLASSES`
    action: str | None = None


def _split_seed(split: str, seed: int) -> int:
    # Splits draw from independent streams: the held-out videos share nothing with training.
    return seed * 1000 + sum(ord(c) * 31**i for i, c in enumerate(split)) % 997


def video_specs(split: str, count: int, seed: int = 0) -> list[VideoSpec]:
    """The specs of a split: labels balanced over :data:`CLASSES`, fps and length at random."""
    rng = np.random.default_rng(_split_seed(split, seed))
    labels = np.arange(count) % len(CLASSES)
    rng.shuffle(labels)
    specs = []
    for label in labels:
        fps = int(rng.choice([25, 30]))
        seconds = rng.uniform(1.6, 2.4)
        specs.append(VideoSpec(int(label), fps, int(round(seconds * fps)), int(rng.integers(2**31))))
    return specs


def _draw(frame: np.ndarray, kind: int, cx: float, cy: float, radius: float, color: np.ndarray) -> None:
    ys, xs = np.ogrid[:HEIGHT, :WIDTH]
    if kind == 0:  # square
        mask = (np.abs(xs - cx) <= radius) & (np.abs(ys - cy) <= radius)
    else:  # disk
        mask = (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2
    frame[mask] = color


def render_frames(spec: VideoSpec) -> np.ndarray:
    """The video's frames as a (T, H, W, 3) uint8 array."""
    rng = np.random.default_rng(spec.seed)
    n = spec.num_frames
    background = rng.integers(0, 140, size=3)
    color = rng.integers(110, 256, size=3)
    kind = int(rng.integers(2))
    radius = rng.uniform(3.5, 6)
    t = np.linspace(0.0, 1.0, n)
    # The shape travels 30-60% of the frame across the video, starting anywhere that keeps it in view.
    action = spec.action or CLASSES[spec.label]
    cx = np.full(n, rng.uniform(radius + 2, WIDTH - radius - 2))
    cy = np.full(n, rng.uniform(radius + 2, HEIGHT - radius - 2))
    radii = np.full(n, radius)
    if action in ("moving_left", "moving_right"):
        span = rng.uniform(0.3, 0.6) * (WIDTH - 2 * radius - 4)
        start = rng.uniform(radius + 2, WIDTH - radius - 2 - span)
        cx = start + span * (t if action == "moving_right" else 1 - t)
    elif action in ("moving_up", "moving_down"):
        span = rng.uniform(0.3, 0.6) * (HEIGHT - 2 * radius - 4)
        start = rng.uniform(radius + 2, HEIGHT - radius - 2 - span)
        cy = start + span * (t if action == "moving_down" else 1 - t)
    elif action.startswith("moving_diagonal"):  # the transfer task: both axes at once
        span_x = rng.uniform(0.3, 0.5) * (WIDTH - 2 * radius - 4)
        span_y = rng.uniform(0.4, 0.6) * (HEIGHT - 2 * radius - 4)
        x0 = rng.uniform(radius + 2, WIDTH - radius - 2 - span_x)
        y0 = rng.uniform(radius + 2, HEIGHT - radius - 2 - span_y)
        forward = t if action.endswith("down_right") else 1 - t
        cx, cy = x0 + span_x * forward, y0 + span_y * forward
    elif action == "shrinking":
        radii = radius * 0.6 + (1 - t) * rng.uniform(3, 6)
    else:  # growing
        radii = radius * 0.6 + t * rng.uniform(3, 6)
    # distractors: random walks (no net direction), about the actor's size
    distractors = []
    for _ in range(2):
        steps = rng.normal(0, 0.8, size=(n, 2))
        walk = np.cumsum(steps, axis=0) + [rng.uniform(8, WIDTH - 8), rng.uniform(8, HEIGHT - 8)]
        walk = np.clip(walk, 4, [WIDTH - 4, HEIGHT - 4])
        distractors.append((int(rng.integers(2)), walk, rng.uniform(2.5, 5), rng.integers(60, 256, size=3)))

    frames = np.empty((n, HEIGHT, WIDTH, 3), np.uint8)
    for i in range(n):
        frame = np.empty((HEIGHT, WIDTH, 3), np.float32)
        frame[:] = background
        frame += rng.normal(0, 20, size=frame.shape)
        frame = np.clip(frame, 0, 255).astype(np.uint8)
        for d_kind, walk, d_radius, d_color in distractors:
            _draw(frame, d_kind, walk[i, 0], walk[i, 1], d_radius, d_color)
        _draw(frame, kind, cx[i], cy[i], radii[i], color)
        frames[i] = frame
    return frames


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: int) -> None:
    """Encode frames as MPEG-4 part 2 (yuv420p) with PyAV, atomically (temp file + rename)."""
    import av

    with atomic_path(path, suffix=".mp4") as tmp, av.open(str(tmp), "w") as container:
        # FFmpeg's own MPEG-4 part 2 encoder, not x264: x264 does not give the same bytes from
        # the same frames twice, and the held-out files must be the same on every machine.
        stream = container.add_stream("mpeg4", rate=fps, options={"qmin": "2", "qmax": "4"})
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for index, frame in enumerate(frames):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts = index  # explicit timestamps: x264's rate control reads them
            video_frame.time_base = Fraction(1, fps)
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def generate(
    root: str | os.PathLike,
    splits: dict[str, int] | None = None,
    *,
    seed: int = 0,
    limit: int | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Render the demo dataset under ``root``; return ``{split: annotation file}``.

    Files already rendered by the same version, seed and split size are kept (a second call
    is near-instant). ``root/classes.txt`` lists the class names in index order. ``limit``
    renders (and lists) only the first videos of each split: the same files as the full split.
    """
    from tqdm.auto import tqdm

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    splits = dict(DEFAULT_SPLITS if splits is None else splits)
    atomic_write(root / "classes.txt", "\n".join(CLASSES) + "\n")
    annotations = {}
    for split, count in splits.items():
        ann = root / f"{split}.txt"
        stamp = root / f"{split}.json"
        key = {"version": FORMAT_VERSION, "seed": seed, "count": count, "limit": limit}
        specs = video_specs(split, count, seed)[:limit]
        rel_paths = [f"{split}/{i:04d}_{CLASSES[s.label]}.mp4" for i, s in enumerate(specs)]
        done = stamp.is_file() and json.loads(stamp.read_text()) == key and ann.is_file()
        if not (done and all((root / p).is_file() for p in rel_paths)):
            stamp.unlink(missing_ok=True)
            for spec, rel in tqdm(list(zip(specs, rel_paths)), desc=f"demo videos ({split})", unit="video", disable=not progress):
                write_video(root / rel, render_frames(spec), spec.fps)
            atomic_write(ann, "".join(f"{rel} {spec.label}\n" for spec, rel in zip(specs, rel_paths)))
            atomic_write(stamp, json.dumps(key))
        annotations[split] = ann
    return annotations


def generate_transfer(root: str | os.PathLike, per_class: dict[str, int], *, seed: int = 0,
                      progress: bool = True) -> dict[str, Path]:
    """Render the transfer task as class folders: ``root/<split>/<class>/<i>.mp4`` with
    ``per_class[split]`` videos of each of :data:`TRANSFER_CLASSES`; returns ``{split: folder}``.
    Files already there are kept (same seed, same bytes)."""
    from tqdm.auto import tqdm

    out = {}
    for split, count in per_class.items():
        rng = np.random.default_rng(_split_seed("transfer-" + split, seed))
        jobs = []
        for label, action in enumerate(TRANSFER_CLASSES):
            for i in range(count):
                fps = int(rng.choice([25, 30]))
                spec = VideoSpec(label, fps, int(round(rng.uniform(1.6, 2.4) * fps)), int(rng.integers(2**31)), action)
                jobs.append((Path(root) / split / action / f"{i:03d}.mp4", spec))
        for path, spec in tqdm(jobs, desc=f"transfer videos ({split})", unit="video", disable=not progress):
            if not path.is_file():
                write_video(path, render_frames(spec), spec.fps)
        out[split] = Path(root) / split
    return out


def default_root() -> Path:
    """Where the demo videos are rendered: ``$VIDEOZOO_DEMO_DATA`` or the user cache."""
    env = os.environ.get("VIDEOZOO_DEMO_DATA")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "videozoo" / f"demo_v{FORMAT_VERSION}"
