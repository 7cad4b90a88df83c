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

From the command line (the videos to try ``zoo predict``, ``zoo export`` or ``zoo finetune`` on,
without the whole ``make run``; it prints where they are)::

    $ python -m benchmarks.demo.videos --split val=10                  # the demo's first held-out videos
    $ python -m benchmarks.demo.videos --transfer diagonals --per-class train=8 val=4 --out my_clips

Example:
    >>> import tempfile
    >>> from benchmarks.demo.videos import generate
    >>> files = generate(tempfile.mkdtemp(), {"val": 5}, progress=False)
    >>> len(open(files["val"]).read().splitlines())
    5
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import zlib
from fractions import Fraction
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.runtime.files import atomic_path, atomic_write

#: Class names, in class-index order (the demo model's output order).
CLASSES = ("moving_left", "moving_right", "moving_up", "moving_down", "growing")

#: The demo's transfer tasks (:mod:`benchmarks.perf.transfer_demo`): new classes, the same world.
#: ``diagonals``: each class combines motions the demo model learnt (two directions at once,
#: growing reversed); ``there_and_back``: each class is the order of two motions it learnt (right
#: then back left, left then back right, growing then shrinking back), which features averaged
#: over time, as the demo model's head reads them, keep less of; ``speeds``: right or left, slowly
#: or quickly, where the demo model learnt each direction at every speed alike, so its features
#: were trained to ignore what tells two of its classes apart (as a Kinetics model's "walking" and
#: "running" would share its features' "legs moving").
TRANSFER_TASKS = {
    "diagonals": ("moving_diagonal_down_right", "moving_diagonal_up_left", "shrinking"),
    "there_and_back": ("moving_right_then_left", "moving_left_then_right", "growing_then_shrinking"),
    "speeds": ("moving_right_slowly", "moving_right_quickly", "moving_left_slowly", "moving_left_quickly"),
}
TRANSFER_CLASSES = TRANSFER_TASKS["diagonals"]
#: Bump when the transfer videos change, so rendered folders are rendered again.
TRANSFER_VERSION = 2
#: The file in a transfer split's folder that says what was rendered there.
TRANSFER_STAMP = ".videos.json"

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
    #: the action drawn (default ``CLASSES[label]``); the transfer tasks' are :data:`TRANSFER_TASKS`
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
    elif action in ("moving_right_slowly", "moving_right_quickly", "moving_left_slowly", "moving_left_quickly"):
        # The demo's directions travel 30-60% of the frame across the video; these travel less
        # and more. Videos last 1.6-2.4 s alike, so per second the speeds overlap the learnt ones
        # only at the ends (slowly up to 0.16 of the frame a second, the learnt 0.13-0.38,
        # quickly from 0.29).
        share = (0.1, 0.25) if action.endswith("slowly") else (0.7, 0.9)
        span = rng.uniform(*share) * (WIDTH - 2 * radius - 4)
        start = rng.uniform(radius + 2, WIDTH - radius - 2 - span)
        cx = start + span * (t if action.startswith("moving_right") else 1 - t)
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
    elif action in ("moving_right_then_left", "moving_left_then_right"):  # there and back
        span = rng.uniform(0.4, 0.7) * (WIDTH - 2 * radius - 4)
        start = rng.uniform(radius + 2, WIDTH - radius - 2 - span)
        turn = rng.uniform(0.4, 0.6)
        there = np.where(t < turn, t / turn, (1 - t) / (1 - turn))  # 0 -> 1 at the turn -> 0
        cx = start + span * (there if action == "moving_right_then_left" else 1 - there)
    elif action in ("moving_down_then_up", "moving_up_then_down"):
        span = rng.uniform(0.4, 0.7) * (HEIGHT - 2 * radius - 4)
        start = rng.uniform(radius + 2, HEIGHT - radius - 2 - span)
        turn = rng.uniform(0.4, 0.6)
        there = np.where(t < turn, t / turn, (1 - t) / (1 - turn))
        cy = start + span * (there if action == "moving_down_then_up" else 1 - there)
    elif action in ("growing_then_shrinking", "shrinking_then_growing"):
        turn = rng.uniform(0.4, 0.6)
        there = np.where(t < turn, t / turn, (1 - t) / (1 - turn))
        amount = rng.uniform(3, 6)
        radii = radius * 0.6 + amount * (there if action == "growing_then_shrinking" else 1 - there)
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


def _up_to_date(stamp: Path, key: dict, files) -> bool:
    """Was this render made already: ``stamp`` records ``key`` (version, seed, sizes) and every
    one of ``files`` is there? Else the caller renders it again."""
    return stamp.is_file() and json.loads(stamp.read_text()) == key and all(Path(f).is_file() for f in files)


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
        if not _up_to_date(stamp, key, [ann, *(root / p for p in rel_paths)]):
            stamp.unlink(missing_ok=True)
            for spec, rel in tqdm(list(zip(specs, rel_paths)), desc=f"demo videos ({split})", unit="video", disable=not progress):
                write_video(root / rel, render_frames(spec), spec.fps)
            atomic_write(ann, "".join(f"{rel} {spec.label}\n" for spec, rel in zip(specs, rel_paths)))
            atomic_write(stamp, json.dumps(key))
        annotations[split] = ann
    return annotations


def transfer_spec(split: str, label: int, action: str, index: int, seed: int = 0) -> VideoSpec:
    """The spec of video ``index`` of ``action`` in a transfer split: drawn from (seed, split,
    action, index) alone, so a split of 16 videos per class holds the 8 of a split of 8, and a
    class's videos do not depend on the other classes of its task.

    Example:
        >>> a = transfer_spec("train", 0, "shrinking", 3)
        >>> a == transfer_spec("train", 0, "shrinking", 3), a == transfer_spec("val", 0, "shrinking", 3)
        (True, False)
    """
    rng = np.random.default_rng([seed, _split_seed("transfer-" + split, 0), zlib.crc32(action.encode()), index])
    fps = int(rng.choice([25, 30]))
    return VideoSpec(label, fps, int(round(rng.uniform(1.6, 2.4) * fps)), int(rng.integers(2**31)), action)


def generate_transfer(root: str | os.PathLike, per_class: dict[str, int], *, seed: int = 0,
                      progress: bool = True, classes: tuple[str, ...] = TRANSFER_CLASSES) -> dict[str, Path]:
    """Render a transfer task as class folders: ``root/<split>/<class>/<i>.mp4`` with
    ``per_class[split]`` videos of each of ``classes`` (:data:`TRANSFER_TASKS`); returns
    ``{split: folder}``. The videos of a split are :func:`transfer_spec`'s (nested: more videos
    per class add to the fewer). A folder rendered with the same version, seed, classes and count
    (its stamp, :data:`TRANSFER_STAMP`) and holding all its videos is kept; one rendered otherwise
    is rendered again, so it never holds other videos (a folder holding files it did not write is
    refused, not deleted).

    Example:
        >>> import tempfile
        >>> folders = generate_transfer(tempfile.mkdtemp(), {"train": 1}, classes=("shrinking", "moving_left"),
        ...                             progress=False)
        >>> sorted(p.parent.name for p in folders["train"].glob("*/*.mp4"))
        ['moving_left', 'shrinking']
    """
    from tqdm.auto import tqdm

    out = {}
    for split, count in per_class.items():
        folder = Path(root) / split
        stamp = folder / TRANSFER_STAMP
        key = {"version": TRANSFER_VERSION, "seed": seed, "classes": list(classes), "per_class": count}
        jobs = [(folder / action / f"{i:03d}.mp4", transfer_spec(split, label, action, i, seed))
                for label, action in enumerate(classes) for i in range(count)]
        if not _up_to_date(stamp, key, [path for path, _ in jobs]):
            if folder.is_dir():
                _remove_rendered(folder)
            for path, spec in tqdm(jobs, desc=f"transfer videos ({split})", unit="video", disable=not progress):
                write_video(path, render_frames(spec), spec.fps)
            atomic_write(stamp, json.dumps(key))
        out[split] = folder
    return out


def _remove_rendered(folder: Path) -> None:
    """Delete a transfer split's folder before it is rendered again, if it holds nothing but what
    :func:`generate_transfer` writes (its stamp, ``<action>/<NNN>.mp4`` of known actions);
    anything else there is a user's, and the folder is refused, not deleted."""
    actions = {a for task in TRANSFER_TASKS.values() for a in task} | set(CLASSES)
    foreign = [p for p in folder.rglob("*") if p.is_file() and p.name != TRANSFER_STAMP
               and not (p.parent.parent == folder and p.parent.name in actions and re.fullmatch(r"\d{3}\.mp4", p.name))]
    if foreign:
        raise ValueError(f"{folder} holds files the demo's transfer videos are not ({foreign[0]}, ...): "
                         "give another root for the rendered videos, or empty that folder")
    shutil.rmtree(folder)


def default_root() -> Path:
    """Where the demo videos are rendered: ``$VIDEOZOO_DEMO_DATA`` or the user cache."""
    env = os.environ.get("VIDEOZOO_DEMO_DATA")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "videozoo" / f"demo_v{FORMAT_VERSION}"


def _sizes(words: list[str]) -> dict[str, int]:
    """``["val=10", "train=8"]`` -> ``{"val": 10, "train": 8}``."""
    sizes = {}
    for word in words:
        split, _, count = word.partition("=")
        if not split or not count.isdigit():
            raise argparse.ArgumentTypeError(f"expected SPLIT=COUNT (e.g. val=10), got {word!r}")
        sizes[split] = int(count)
    return sizes


def main(argv: list[str] | None = None) -> int:
    """Render demo videos and print where they are (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.demo.videos", description=__doc__.splitlines()[0])
    parser.add_argument("--out", help=f"folder (default {default_root()}, where make run renders them)")
    parser.add_argument("--split", nargs="+", metavar="SPLIT=COUNT", default=["val=10"],
                        help="the demo's own videos: the first COUNT of each split (default val=10; make run "
                        f"renders val={DEFAULT_SPLITS['val']}, the held-out set; the model was trained on "
                        f"train={DEFAULT_SPLITS['train']})")
    parser.add_argument("--transfer", choices=sorted(TRANSFER_TASKS),
                        help="a transfer task's videos instead, as class folders (OUT/SPLIT/CLASS/NNN.mp4)")
    parser.add_argument("--per-class", nargs="+", metavar="SPLIT=COUNT", default=["train=8", "val=4"],
                        help="--transfer: videos per class in each split (default train=8 val=4)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.transfer:
            root = Path(args.out or default_root() / f"transfer_{args.transfer}")
            folders = generate_transfer(root, _sizes(args.per_class), classes=TRANSFER_TASKS[args.transfer],
                                        progress=not args.quiet)
            for split, folder in folders.items():  # the held-out folder is zoo finetune's --val, not a --train
                use = "--val" if split == "val" else "--train"
                print(f"{split}: {folder} (a folder per class: zoo finetune --dataset folders {use} {folder})")
            return 0
        root = Path(args.out) if args.out else default_root()
        full = _sizes(args.split)
        # the first COUNT videos of the full split: the same files make run renders and evaluates
        files = {split: generate(root, {split: DEFAULT_SPLITS.get(split, count)}, limit=count, progress=not args.quiet)[split]
                 for split, count in full.items()}
    except (argparse.ArgumentTypeError, ValueError) as err:
        parser.error(str(err))
    for split, ann in files.items():
        first = ann.read_text().split(maxsplit=1)[0]
        print(f"{split}: {ann} (videos under {root}, e.g. {root / first}; classes in {root / 'classes.txt'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
