"""``zoo predict``: name the actions in videos from the shell, and draw what the model saw.

The prediction itself is the library's (:func:`zoo.predict`, :mod:`zoo.prediction`): the
entry's own test protocol, one decode for all views, scores aggregated as the evaluation does,
named with the dataset's class list. This module adds the command: many videos decoded in
worker processes (:func:`predict_many`; a bad file is named and the others go on), tables or
JSON lines, and the picture.

``--show out.png`` draws what the model saw: the frames of the centre view (middle temporal
clip, centre crop; after scaling and cropping, before normalising) at their exact pixels,
each pixel repeated ``scale`` times (a whole number) so small crops are visible, beside a bar
chart of the top-k scores. :func:`picture_layout` gives the geometry.

Command line:
    $ zoo predict clip.mp4 other.mp4 --model x3d_xs --pretrained --top 5
    $ zoo predict videos/*.mp4 --model x3d_xs --pretrained --json --workers 2 > predictions.jsonl
    $ zoo predict clip.mp4 --model i3d_tiny_8x4_demo --pretrained --show clip.png
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.compat import moved_names
from benchmarks.run_config import positive_float, positive_int, views_argument
from benchmarks.runtime.workers import as_is
from zoo import prediction as library
from zoo.input.source import VideoReadError
from zoo.input.video import read_views

#: How a random network's note ends (zoo.predict's per-video warning too): said once per command.
RANDOM_NOTE_END = "the scores mean nothing"

#: Frames per row of the picture's strip (longer clips wrap onto more rows).
STRIP_FRAMES_PER_ROW = 8
#: Frames smaller than this are enlarged by a whole factor (each pixel repeated) to be visible.
STRIP_MIN_FRAME_PX = 96
#: Picture geometry in pixels: margin, title band, gap between frames, bar-chart band width
#: (class labels included), height per bar, and room under the bars for the score axis.
PAD, TITLE_PX, GAP, CHART_PX, BAR_PX, AXIS_PX = 16, 40, 4, 440, 30, 40

#: Moved to the library (zoo.prediction); importing them from here warns for one release.
__getattr__ = moved_names(__name__, {name: "zoo.prediction" for name in (
    "predict", "Prediction", "PredictError", "resolve_model", "load_class_file", "class_names_for", "top_k",
    "centre_view_frames", "check_length", "read_boxes")} | {"demo_picture": "benchmarks.reproduce", "DEMO_PICTURE": "benchmarks.reproduce"})


# --------------------------------------------------------------------------- the picture


@dataclass(frozen=True)
class PictureLayout:
    """Pixel geometry of a ``--show`` picture (origin top-left): the strip and the whole image."""

    width: int
    height: int
    strip_x: int
    strip_y: int
    scale: int  # each frame pixel is drawn as a scale x scale block
    per_row: int
    frame_h: int  # drawn size of one frame (after ``scale``)
    frame_w: int

    def frame_origin(self, t: int) -> tuple[int, int]:
        """``(x, y)`` of frame ``t``'s top-left corner in the picture."""
        row, col = divmod(t, self.per_row)
        return self.strip_x + col * (self.frame_w + GAP), self.strip_y + row * (self.frame_h + GAP)


def picture_layout(num_frames: int, height: int, width: int, top: int) -> PictureLayout:
    """Where everything goes in a ``--show`` picture of ``num_frames`` frames of ``height x width``.

    Example (the demo: 8 frames of 32 x 32, top 5):
        >>> layout = picture_layout(8, 32, 32, 5)
        >>> layout.scale, layout.width, layout.height, layout.frame_origin(1)
        (3, 1284, 246, (116, 40))
    """
    scale = max(1, math.ceil(STRIP_MIN_FRAME_PX / max(1, min(height, width))))
    per_row = min(num_frames, STRIP_FRAMES_PER_ROW)
    rows = math.ceil(num_frames / per_row)
    frame_h, frame_w = height * scale, width * scale
    strip_w = per_row * frame_w + (per_row - 1) * GAP
    strip_h = rows * frame_h + (rows - 1) * GAP
    chart_h = BAR_PX * top + AXIS_PX
    body_h = max(strip_h, chart_h)
    return PictureLayout(
        width=PAD + strip_w + PAD + CHART_PX + PAD,
        height=TITLE_PX + body_h + PAD,
        strip_x=PAD, strip_y=TITLE_PX, scale=scale, per_row=per_row, frame_h=frame_h, frame_w=frame_w,
    )


def strip_image(frames: torch.Tensor, layout: PictureLayout) -> np.ndarray:
    """The strip as a uint8 ``(H, W, 3)`` array on white: frames at their exact pixels, enlarged by ``scale``."""
    count = frames.shape[0]
    rows = math.ceil(count / layout.per_row)
    height = rows * layout.frame_h + (rows - 1) * GAP
    width = layout.per_row * layout.frame_w + (layout.per_row - 1) * GAP
    strip = np.full((height, width, 3), 255, dtype=np.uint8)
    for t in range(count):
        x, y = layout.frame_origin(t)
        x, y = x - layout.strip_x, y - layout.strip_y
        big = np.repeat(np.repeat(frames[t].numpy(), layout.scale, axis=0), layout.scale, axis=1)
        strip[y : y + layout.frame_h, x : x + layout.frame_w] = big
    return strip


def _short(name: str, limit: int = 38) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "\u2026"


def save_picture(prediction: library.Prediction, path, *, title: str | None = None) -> Path:
    """Write the ``--show`` PNG of ``prediction``: the centre view's frames beside its top-k bar chart.

    The PNG is exactly :func:`picture_layout` pixels; the strip's pixels are the frames' (each
    repeated ``scale`` times), drawn with ``figimage`` (no resampling).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from benchmarks.runtime.files import atomic_path

    frames = prediction.frames
    top = len(prediction.top)
    layout = picture_layout(frames.shape[0], frames.shape[1], frames.shape[2], top)
    dpi = 100
    fig = plt.figure(figsize=(layout.width / dpi, layout.height / dpi), dpi=dpi, facecolor="white")
    strip = strip_image(frames, layout)
    # figimage offsets count from the bottom-left; origin="upper" puts the array's row 0 on top
    fig.figimage(strip, xo=layout.strip_x, yo=layout.height - layout.strip_y - strip.shape[0], origin="upper",
                 resize=False)
    text = title or f"{Path(prediction.video).name}  |  {prediction.model}  |  {prediction.views} views"
    fig.text(PAD / layout.width, 1 - 6 / layout.height, text, ha="left", va="top", fontsize=11)
    fig.text(PAD / layout.width, 1 - 24 / layout.height,
             f"what the model saw: {frames.shape[0]} frames of the centre view ({frames.shape[1]}x{frames.shape[2]} px"
             + (f", shown x{layout.scale}" if layout.scale > 1 else "") + ")", ha="left", va="top", fontsize=8,
             color="0.35")
    # the chart: labels need room on its left, inside the chart band
    left_px, right_px = layout.width - PAD - CHART_PX + 200, layout.width - PAD - 12
    ax = fig.add_axes([left_px / layout.width, (PAD + AXIS_PX) / layout.height,
                       (right_px - left_px) / layout.width, (BAR_PX * top) / layout.height])
    names = [_short(n) for n, _ in prediction.top][::-1]
    values = [s for _, s in prediction.top][::-1]
    ax.barh(range(top), values, color="#4c72b0")
    ax.set_yticks(range(top), names, fontsize=8)
    ax.set_xlim(0, 1)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("score", fontsize=8)
    for i, v in enumerate(values):
        inside = v > 0.75  # no room right of a long bar: write the value inside it
        ax.text(v - 0.02 if inside else v + 0.02, i, f"{v:.3f}", va="center", ha="right" if inside else "left",
                fontsize=7, color="white" if inside else "black")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", facecolor="white")
    plt.close(fig)
    return path


def show_paths(show, videos: list[str]) -> list[Path]:
    """One picture per video: ``show`` itself for one video, else ``<show stem>_<video stem>.png``."""
    show = Path(show)
    if len(videos) == 1:
        return [show]
    seen: dict[str, int] = {}
    out = []
    for video in videos:
        stem = Path(str(video).rstrip("/")).stem or "video"
        n = seen.get(stem, 0)
        seen[stem] = n + 1
        out.append(show.with_name(f"{show.stem}_{stem}{f'_{n}' if n else ''}{show.suffix or '.png'}"))
    return out


# --------------------------------------------------------------------------- decode workers (CLI)


class _DecodedVideos(torch.utils.data.Dataset):
    """Item ``i``: every view of ``paths[i]`` from one decode, or why it failed (named, never raised)."""

    def __init__(self, paths: list[str], spec, frame_fps: float | None = None):
        self.paths, self.spec, self.frame_fps = paths, spec, frame_fps

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        path = self.paths[index]
        try:
            views, info = read_views(path, self.spec, frame_fps=self.frame_fps)
            library.check_length(info.video_frames, self.spec, path)
        except VideoReadError as err:
            return {"index": index, "error": err.reason}
        except library.PredictError as err:
            return {"index": index, "error": str(err).split(": ", 1)[-1]}
        except Exception as err:  # one bad file must not stop the others; name it instead
            return {"index": index, "error": f"{err.__class__.__name__}: {err}"}
        return {"index": index, "views": views, "frames": info.video_frames, "fps": info.fps}


def _one_thread(_):
    torch.set_num_threads(1)  # workers decode; the model's threads stay in the main process


def predict_many(model, entry, paths: list[str], *, views=None, top=5, classes=None, workers=0, device="cpu",
                 progress=True, frame_fps: float | None = None):
    """Yield ``(path, Prediction or error message)`` for each path, in order, decoding in ``workers``;
    ``frame_fps``: the rate of the frame folders' frames (:func:`zoo.input.video.read_views`)."""
    from tqdm import tqdm

    from zoo.transforms import InputSpec

    spec = InputSpec.from_entry(entry, views)
    loader = torch.utils.data.DataLoader(
        _DecodedVideos(paths, spec, frame_fps), batch_size=None, num_workers=workers, collate_fn=as_is,
        worker_init_fn=_one_thread if workers else None, prefetch_factor=2 if workers else None,
    )
    with tqdm(total=len(paths), unit="video", desc="zoo predict", disable=not progress, file=sys.stderr,
              dynamic_ncols=True, leave=False) as bar:
        for item in loader:
            path = paths[item["index"]]
            if "error" in item:
                yield path, item["error"], bar
            else:
                yield path, library.score_views(model, entry, spec, item["views"], source=path, length=item["frames"],
                                   fps=item["fps"], top=top, classes=classes, device=device), bar
            bar.update(1)


# --------------------------------------------------------------------------- command line


def format_table(prediction: library.Prediction) -> str:
    """A readable block for one video: a header line, then rank / class / score rows."""
    from tabulate import tabulate

    views = prediction.views if " " in prediction.views else f"{prediction.views} views"
    head = f"{prediction.video}  ({prediction.model}, {views}"
    if prediction.video_frames is not None:
        head += f", {prediction.video_frames} frames at {prediction.fps:g} fps"
    head += ")"
    if prediction.boxes:
        blocks = [head]
        for box in prediction.boxes:
            coords = ", ".join(f"{v:.3f}" for v in box["box"])
            rows = [[d["rank"], d["class"], f"{d['score']:.4f}"] for d in box["top"]]
            blocks.append(f"box at {box['timestamp']:g} s [{coords}]\n"
                          + tabulate(rows, headers=["rank", "action", "score"], tablefmt="github"))
        return "\n".join(blocks)
    rows = [[r, name, f"{score:.4f}"] for r, (name, score) in enumerate(prediction.top, 1)]
    return head + "\n" + tabulate(rows, headers=["rank", "class", "score"], tablefmt="github")


def _cmd_predict(args: argparse.Namespace) -> int:
    import zoo
    from zoo.classes import class_names

    def fail(message: str) -> int:
        print(f"zoo predict: {message}", file=sys.stderr)
        return 2

    from benchmarks.run_config import Weights, default_device, device_problem
    from zoo.deploy.artifact import ArtifactError, load_artifact

    # before any file is read or model built: one line, not CUDA's traceback from .to(device)
    problem = device_problem(args.device, artifact=bool(args.artifact)) if args.device else None
    if problem:
        return fail(problem)
    files = [v for v in args.videos if Path(v).is_file()] if args.fps else []
    if files:  # a video file would be scored at its container's rate, not the one asked for
        return fail(f"--fps is for frame folders; {files[0]} is a video file, whose frame rate is its container's")
    device = args.device or default_device(Weights(artifact=args.artifact))
    try:
        if args.artifact:  # the exported file run by its runtime; its manifest names the entry
            model = load_artifact(args.artifact)
            if args.model and zoo.get_entry(args.model).name != model.zoo_entry:
                return fail(f"--model {args.model} is not the artifact's entry {model.zoo_entry}: leave --model out")
            entry = zoo.get_entry(model.zoo_entry)
        elif not args.model:
            return fail("name the model: --model NAME (or --artifact FILE, whose manifest names it)")
        else:
            entry = zoo.get_entry(args.model)
        if args.classes:
            library.load_class_file(args.classes)  # a bad --classes file is an error before any decoding
        if not args.artifact:
            model = zoo.create_model(entry.name, pretrained=args.pretrained, checkpoint=args.checkpoint,
                                     progress=not args.quiet)
    except (zoo.UnknownModelError, zoo.BuilderNotAvailableError, ArtifactError, library.PredictError, OSError,
            RuntimeError, ValueError) as err:  # a checkpoint the library refuses says why in one line
        return fail(str(err))
    if args.fps and entry.dataset == "ava":
        return fail(f"--fps is not taken by {entry.name}: the AVA detectors read frames on a 30 fps grid")
    if not (args.pretrained or args.checkpoint or args.artifact):
        print(f"zoo predict: note: {entry.name} has random weights (no --pretrained/--checkpoint): {RANDOM_NOTE_END}",
              file=sys.stderr)
    model = model.eval().to(device)
    pictures = show_paths(args.show, args.videos) if args.show else [None] * len(args.videos)
    failed = 0

    def emit(index, path, result, bar=None):
        nonlocal failed
        write = (lambda s: bar.write(s, file=sys.stdout)) if bar is not None else print
        note = (lambda s: bar.write(s, file=sys.stderr)) if bar is not None else (lambda s: print(s, file=sys.stderr))
        if isinstance(result, str):
            failed += 1
            note(f"zoo predict: {path}: {result}")
            if args.json:
                write(json.dumps({"video": str(path), "error": result}))
            return
        random = not (args.pretrained or args.checkpoint or args.artifact)
        if random and not any(w.endswith(RANDOM_NOTE_END) for w in result.warnings):
            # the worker path scores views directly: the JSON line says it too, not only the screen
            result.warnings.append(f"{entry.name} has random weights (no --pretrained/--checkpoint): {RANDOM_NOTE_END}")
        for warning in result.warnings:
            if warning.endswith(RANDOM_NOTE_END) and random:
                continue  # said once, before the first video
            note(f"zoo predict: {path}: {warning}")
        write(json.dumps(result.as_dict()) if args.json else format_table(result) + "\n")
        picture = pictures[index]
        if picture is not None:
            save_picture(result, picture)
            note(f"zoo predict: picture of {path}: {picture}")

    if entry.dataset == "ava":
        for index, path in enumerate(args.videos):
            try:
                emit(index, path, library.predict(model, path, top=args.top, device=device, classes=args.classes,
                                          boxes=args.boxes))
            except library.PredictError as err:
                emit(index, path, str(err).split(f"{path}: ", 1)[-1])
    else:
        try:
            class_names(entry)
        except LookupError as err:
            if not args.classes:
                print(f"zoo predict: {err}", file=sys.stderr)
        progress = not args.quiet and len(args.videos) > 1
        stream = predict_many(model, entry, args.videos, views=args.views, top=args.top, classes=args.classes,
                              workers=args.workers, device=device, progress=progress, frame_fps=args.fps)
        try:
            for index, (path, result, bar) in enumerate(stream):
                emit(index, path, result, bar)
        except library.PredictError as err:  # scoring refused (a --classes list that does not fit): every video alike
            return fail(str(err))
    if failed:
        print(f"zoo predict: {failed} of {len(args.videos)} video(s) failed", file=sys.stderr)
        return 2
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``zoo predict`` to the ``zoo`` command line."""
    p = subparsers.add_parser(
        "predict",
        help="name the actions in videos with a zoo model (top-k classes per video)",
        description="Score videos with a zoo entry under its own test protocol and print the top-k "
        "class names per video (a table, or JSON lines). Bad files are named and skipped; exit code 2 "
        "if any failed.",
    )
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files or frame folders")
    p.add_argument("--model", help="entry name or alias (zoo list); not needed with --artifact")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--pretrained", action="store_true", help="the published checkpoint (downloaded once)")
    weights.add_argument("--artifact", metavar="FILE", help="a file from zoo export (.onnx, .pte), run by its runtime "
                         "on the CPU (its manifest beside it names the entry; its sha256 is checked; a "
                         "fine-tuned model's names: --classes)")
    weights.add_argument("--checkpoint", help="checkpoint path, file://, https:// or hf:// source")
    p.add_argument("--top", type=positive_int, default=5, help="classes to show per video (default 5)")
    p.add_argument("--views", type=views_argument, help="CLIPSxCROPS, e.g. 10x3 (default: the catalogue's)")
    p.add_argument("--fps", type=positive_float, help="the frame rate of frame folders' frames (default 30, or the "
                   "entry's protocol's; a video file's is its container's)")
    p.add_argument("--json", action="store_true", help="one JSON line per video instead of tables")
    p.add_argument("--workers", type=int, default=0, help="decoding processes (0: decode in this process)")
    p.add_argument("--show", metavar="PNG", help="picture of the frames the model saw beside the top-k chart "
                   "(several videos: PNG_<video>.png)")
    p.add_argument("--classes", metavar="FILE", help="class names in output order (txt, JSON {name: index}, "
                   "or Charades_v1_classes.txt) instead of the shipped list")
    p.add_argument("--boxes", metavar="CSV", help="AVA detectors: person boxes, rows [video_id,]timestamp,x1,y1,x2,y2 in [0, 1]")
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda where torch sees a GPU, else cpu; "
                   "an --artifact runs on its runtime's CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_predict)
    return p
