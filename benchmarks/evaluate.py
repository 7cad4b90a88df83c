"""Multi-view evaluation of a zoo entry on a dataset: resumable, decode once per video.

Data flow: annotation records -> (DataLoader workers) one decode per video and every view
of the entry's test protocol (:mod:`benchmarks.video`, :mod:`zoo.transforms`) -> the model,
in batches of views -> per-video aggregation -> one JSON line per video in
``<out>/scores.jsonl``, flushed as each video finishes -> metrics over all finished videos
-> ``<out>/metrics.json`` (written atomically) and a one-line summary.

Aggregation over a video's views: single-label sets average the softmax scores (a model
whose head already applies softmax, like X3D's, is not softmaxed twice); multi-label sets
(Charades) take sigmoid scores and their maximum over views, as PySlowFast does.

Resuming: a rerun with the same ``out`` reads ``scores.jsonl``, drops a last line cut short
by a kill (truncating the file back to its last complete line) and evaluates only the videos
not in it, so no video is ever scored twice. ``out/config.json`` records model, views and
dataset; a rerun with different ones is refused instead of mixing results.

Failures (missing, zero-length, unreadable, truncated videos) go to ``<out>/failures.jsonl``
(key, path, reason), are left out of the metrics and counted in the summary; they are
retried by the next run, which rewrites that file.

Each video's line is independent, so sharding a dataset over processes/machines (later)
only needs a record selection per shard and a merge of the ``scores.jsonl`` files; the
metric is looked up by name (:data:`benchmarks.metrics.METRICS`).

Example (Python API):
    >>> from benchmarks.datasets import read_path_label_list
    >>> from benchmarks.evaluate import evaluate
    >>> # ds = read_path_label_list("val.txt", "videos/")
    >>> # result = evaluate("x3d_xs", ds, "runs/x3d_xs", pretrained=True, views="10x3", workers=2)
    >>> # result["metrics"]["top1"]

Command line:
    $ zoo evaluate x3d_xs --annotations kinetics400/val.csv --video-root kinetics400/val \\
          --pretrained --views 10x3 --workers 2 --out runs/x3d_xs
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchmarks import metrics as metrics_lib
from benchmarks.files import write_json_atomic
from benchmarks.datasets import AnnotationError, VideoDataset, VideoRecord, load_dataset
from benchmarks.video import VideoReadError, read_views

SCORES_FILE = "scores.jsonl"
FAILURES_FILE = "failures.jsonl"
METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.json"


# --------------------------------------------------------------------------- results files


def read_scores(path, repair: bool = True) -> dict[str, dict]:
    """Finished videos in a ``scores.jsonl``: key -> its record (first occurrence wins).

    A last line cut short by a kill (no final newline) is dropped, and with
    ``repair`` the file is truncated back to its last complete line so appends stay clean.
    A bad line elsewhere is an error naming the file and line.
    """
    path = Path(path)
    if not path.exists():
        return {}
    data = path.read_bytes()
    *complete, partial = data.split(b"\n")  # ``partial``: text after the last newline
    done: dict[str, dict] = {}
    for number, raw in enumerate(complete, 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError(f"{path}:{number}: not a JSON line; the results file is damaged") from None
        done.setdefault(record["key"], record)
    good_end = len(data) - len(partial)
    if repair and good_end < len(data):
        with open(path, "r+b") as f:
            f.truncate(good_end)
    return done


# --------------------------------------------------------------------------- model outputs


def output_activation(model: nn.Module) -> str:
    """What the model's outputs already are: ``"logits"``, ``"softmax"`` or ``"sigmoid"``.

    ``model.output_activation`` says it explicitly; otherwise the classification head (the
    last module with a linear ``proj``) is inspected for a Softmax/Sigmoid ``activation``.
    """
    explicit = getattr(model, "output_activation", None)
    if explicit is not None:
        return explicit
    head = None
    for module in model.modules():
        if isinstance(getattr(module, "proj", None), nn.Linear):
            head = module
    activation = getattr(head, "activation", None)
    if isinstance(activation, nn.Softmax):
        return "softmax"
    if isinstance(activation, nn.Sigmoid):
        return "sigmoid"
    return "logits"


def view_scores(outputs: torch.Tensor, activation: str, multilabel: bool) -> torch.Tensor:
    """Per-view class scores: sigmoid (multi-label) or softmax of logits; activated outputs as is."""
    if activation != "logits":
        return outputs
    return torch.sigmoid(outputs) if multilabel else torch.softmax(outputs, dim=-1)


def aggregate(scores: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """``(views, classes)`` -> ``(classes,)``: max over views for multi-label, else the mean."""
    return scores.max(dim=0).values if multilabel else scores.mean(dim=0)


def _num_views(views) -> int:
    return (views[0] if isinstance(views, (list, tuple)) else views).shape[0]


def _slice_views(views, start: int, stop: int, device):
    if isinstance(views, (list, tuple)):
        return [v[start:stop].to(device) for v in views]
    return views[start:stop].to(device)


@torch.inference_mode()
def score_video(model, views, *, batch_size: int | None, activation: str, multilabel: bool, device="cpu") -> torch.Tensor:
    """One video's aggregated scores from all its views, ``batch_size`` views per forward pass."""
    n = _num_views(views)
    step = batch_size or n
    chunks = [view_scores(model(_slice_views(views, i, i + step, device)).float(), activation, multilabel) for i in range(0, n, step)]
    return aggregate(torch.cat(chunks).cpu(), multilabel)


# --------------------------------------------------------------------------- decoding workers


class VideoViews(torch.utils.data.Dataset):
    """Item ``i``: every view of video ``records[i]`` from one decode, or the reason it failed."""

    def __init__(self, records: list[VideoRecord], spec, thread_type: str | None = None):
        self.records, self.spec, self.thread_type = records, spec, thread_type

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        start = time.perf_counter()
        record = self.records[index]
        try:
            views, info = read_views(record.source, self.spec, thread_type=self.thread_type)
        except VideoReadError as err:
            return {"index": index, "error": err.reason}
        except Exception as err:  # a bad file must not end an hours-long run; name it instead
            return {"index": index, "error": f"{err.__class__.__name__}: {err}"}
        return {"index": index, "views": views, "decode_s": time.perf_counter() - start, "frames": info.decoded_frames}


def _as_is(item):
    return item


def _worker_init(_):
    torch.set_num_threads(1)  # workers decode; the model's threads live in the main process


# --------------------------------------------------------------------------- evaluation


def default_model_factory(pretrained: bool = False, checkpoint=None) -> Callable:
    """``zoo.create_model`` for an entry, with the published or a given checkpoint."""

    def build(entry) -> nn.Module:
        import zoo

        return zoo.create_model(entry.name, pretrained=pretrained, checkpoint=checkpoint)

    return build


def _config(entry, spec, dataset: VideoDataset, pretrained, checkpoint, model_tag) -> dict:
    return {
        "model": entry.name,
        "views": spec.views_label,
        "dataset": dataset.name,
        "annotations": os.path.abspath(dataset.source) if dataset.source else "",
        "weights": str(checkpoint) if checkpoint else ("published" if pretrained else model_tag),
    }


def _check_config(out_dir: Path, config: dict) -> None:
    path = out_dir / CONFIG_FILE
    if path.exists():
        old = json.loads(path.read_text())
        diff = {k: (old.get(k), v) for k, v in config.items() if old.get(k) != v}
        if diff:
            detail = "; ".join(f"{k}: {a!r} before, {b!r} now" for k, (a, b) in diff.items())
            raise ValueError(f"{out_dir} holds results of a different evaluation ({detail}); use another --out")
    else:
        write_json_atomic(path, config)


def evaluate(
    entry_or_name,
    dataset: VideoDataset,
    out_dir,
    *,
    model: nn.Module | None = None,
    model_factory: Callable | None = None,
    pretrained: bool = False,
    checkpoint=None,
    views: str | tuple[int, int] | None = None,
    batch_size: int | None = None,
    workers: int = 0,
    limit: int | None = None,
    device: str = "cpu",
    progress: bool = True,
    thread_type: str | None = None,
    log: Callable[[str], None] | None = print,
    fast: bool = False,
) -> dict:
    """Evaluate an entry (name or :class:`zoo.ZooEntry`) on ``dataset``; results in ``out_dir``.

    The model is ``model``, else ``model_factory(entry)``, else ``zoo.create_model`` with
    ``pretrained``/``checkpoint``; it maps a batch of views (a tensor, or ``[slow, fast]``)
    to ``(B, classes)``. ``views``: ``"CLIPSxCROPS"`` overriding the catalogue's;
    ``batch_size``: views per forward pass (default: all views of a video); ``limit``: the
    first N videos only. ``fast``: run the model through :func:`zoo.optimize` (BN folding,
    torch.compile, ...; compiled for the batch of views this run feeds it).

    Returns the content of ``metrics.json``: ``metrics`` (e.g. ``top1``/``top5`` or ``map``),
    ``videos`` scored, ``failed``, ``total``, ``published`` and ``timing`` of this run.
    """
    import zoo
    from tqdm import tqdm

    from zoo.transforms import InputSpec

    entry = zoo.get_entry(entry_or_name) if isinstance(entry_or_name, str) else entry_or_name
    if entry.dataset == "ava":
        # detectors need person boxes per keyframe and frame mAP: not this classification harness
        raise ValueError(f"{entry.name} is an AVA detection model; AVA evaluation is not supported by zoo evaluate yet")
    spec = InputSpec.from_entry(entry, views)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_tag = "given model" if model is not None else ("custom factory" if model_factory else "random init")
    _check_config(out_dir, _config(entry, spec, dataset, pretrained, checkpoint, model_tag))

    records = dataset.records[:limit] if limit else list(dataset.records)
    scores_path, failures_path = out_dir / SCORES_FILE, out_dir / FAILURES_FILE
    finished = read_scores(scores_path)
    todo = [r for r in records if r.key not in finished]
    multilabel = dataset.multilabel
    expected_classes = dataset.num_classes or dataset.meta.get("num_classes")

    failures: list[dict] = []
    decode_s = model_s = 0.0
    scored = 0
    started = time.perf_counter()
    with open(failures_path, "w") as failures_file:
        if todo:
            if model is None:
                factory = model_factory or default_model_factory(pretrained, checkpoint)
                model = factory(entry)
            model = model.eval().to(device)
            if fast:
                from zoo.fast import example_input

                example = example_input(entry, batch=min(batch_size or spec.num_views, spec.num_views),
                                        frames=spec.num_frames, size=spec.crop_size, device=device)
                model = zoo.optimize(model, example, device=device)
            activation = output_activation(model)
            loader = torch.utils.data.DataLoader(
                VideoViews(todo, spec, thread_type),
                batch_size=None,
                num_workers=workers,
                collate_fn=_as_is,
                worker_init_fn=_worker_init if workers else None,
                prefetch_factor=2 if workers else None,
            )
            bar = tqdm(total=len(todo), unit="video", desc=entry.name, disable=not progress, dynamic_ncols=True)
            with open(scores_path, "a") as scores_file, bar:
                for item in loader:
                    record = todo[item["index"]]
                    if "error" in item:
                        failure = {"key": record.key, "path": record.path, "reason": item["error"]}
                        failures.append(failure)
                        failures_file.write(json.dumps(failure) + "\n")
                        failures_file.flush()
                    else:
                        decode_s += item["decode_s"]
                        t0 = time.perf_counter()
                        scores = score_video(model, item["views"], batch_size=batch_size, activation=activation,
                                             multilabel=multilabel, device=device)
                        model_s += time.perf_counter() - t0
                        if expected_classes and scores.shape[0] != expected_classes:
                            raise ValueError(
                                f"{entry.name} outputs {scores.shape[0]} classes but the dataset has "
                                f"{expected_classes}; pass the checkpoint's class list (--classes)"
                            )
                        label = list(record.label) if isinstance(record.label, tuple) else record.label
                        line = {"key": record.key, "label": label, "views": _num_views(item["views"]),
                                "scores": scores.tolist()}
                        scores_file.write(json.dumps(line) + "\n")
                        scores_file.flush()  # a kill loses at most the video in flight
                        scored += 1
                    bar.update(1)
                    bar.set_postfix(failed=len(failures))
    wall_s = time.perf_counter() - started

    finished = read_scores(scores_path)
    done = [finished[r.key] for r in records if r.key in finished]
    if done:
        score_matrix = np.array([d["scores"] for d in done], dtype=np.float64)
        labels = [d["label"] for d in done]
        values = metrics_lib.compute(dataset.metric, score_matrix, labels)
    else:
        values = {}
    result = {
        "model": entry.name,
        "dataset": dataset.name,
        "views": spec.views_label,
        "metrics": values,
        "published": dict(entry.published),
        "videos": len(done),
        "failed": len(failures),
        "total": len(records),
        "failures_file": str(failures_path) if failures else None,
        "timing": {
            "videos_this_run": scored,
            "wall_s": wall_s,
            "videos_per_s": scored / wall_s if scored and wall_s > 0 else None,
            "decode_s": decode_s,
            "model_s": model_s,
            "workers": workers,
        },
    }
    write_json_atomic(out_dir / METRICS_FILE, result)
    if log is not None:
        log(summary_line(result))
    return result


def summary_line(result: dict) -> str:
    """One line: model, views, metrics beside the published ones, videos, failures."""
    parts = []
    for name, value in result["metrics"].items():
        if name.startswith("top") or name == "map":
            published = result["published"].get(name)
            parts.append(f"{name} {value:.2f}" + (f" (published {published:.2f})" if published is not None else ""))
    text = f"{result['model']} on {result['dataset']}, {result['views']} views: " + ", ".join(parts or ["no videos scored"])
    text += f" over {result['videos']}/{result['total']} videos"
    if result["failed"]:
        text += f"; {result['failed']} failed (listed in {result['failures_file']})"
    timing = result.get("timing") or {}
    if timing.get("videos_this_run"):
        n = timing["videos_this_run"]
        # decoding overlaps the model when workers > 0: the two can add up to more than the wall time
        text += (f"; this run {n / timing['wall_s']:.2f} videos/s, per video decode+views {timing['decode_s'] / n:.2f} s, "
                 f"model {timing['model_s'] / n:.2f} s ({timing['workers']} workers)")
    return text


# --------------------------------------------------------------------------- command line


def _load_factory(spec: str) -> Callable:
    module_name, _, fn_name = spec.partition(":")
    if not fn_name:
        raise ValueError(f"--builder must be module:function, got {spec!r}")
    return getattr(importlib.import_module(module_name), fn_name)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import zoo

    try:
        entry = zoo.get_entry(args.name)
        dataset = load_dataset(args.dataset or entry.dataset, args.annotations, args.video_root,
                               classes=args.classes, labels=args.labels,
                               frame_list=args.frame_list)
        out = args.out or os.path.join("runs", "evaluate", f"{entry.name}_{args.views or f'{entry.temporal_clips}x{entry.spatial_crops}'}")
        evaluate(
            entry,
            dataset,
            out,
            model_factory=_load_factory(args.builder) if args.builder else None,
            pretrained=args.pretrained,
            checkpoint=args.checkpoint,
            views=args.views,
            batch_size=args.batch_size,
            workers=args.workers,
            limit=args.limit,
            device=args.device,
            progress=not args.quiet,
            fast=args.fast,
        )
    except (AnnotationError, FileNotFoundError, ValueError) as err:
        print(f"zoo evaluate: {err}", file=sys.stderr)
        return 2
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``zoo evaluate`` to the ``zoo`` command line."""
    p = subparsers.add_parser(
        "evaluate",
        help="multi-view accuracy of an entry on a dataset (resumable)",
        description="Run the entry's published test protocol on a dataset; results go to --out, "
        "a rerun with the same --out resumes.",
    )
    p.add_argument("name", help="canonical name or alias")
    p.add_argument("--annotations", required=True, help="Kinetics CSV or 'path label' list, SSv2 validation JSON, Charades CSV")
    p.add_argument("--video-root", required=True, help="folder holding the videos, or frame folders (one per video), "
                   "or the frame-list prefix (DATA.PATH_PREFIX)")
    p.add_argument("--dataset", choices=["kinetics400", "ssv2", "charades"], help="annotation format (default: the entry's dataset)")
    p.add_argument("--classes", help="class list in checkpoint index order (txt, one per line, or JSON {name: index})")
    p.add_argument("--labels", help="SSv2 labels JSON (default: labels.json beside the annotations)")
    p.add_argument("--frame-list", help="SSv2: PySlowFast's frame-list val.csv (JPEG frames under --video-root), "
                   "the layout the published number was measured on; Charades: pass its frame list as --annotations")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--pretrained", action="store_true", help="the published checkpoint (downloaded once)")
    weights.add_argument("--checkpoint", help="checkpoint path, file://, https:// or hf:// source")
    weights.add_argument("--builder", help="module:function(entry) -> model, instead of zoo.create_model (custom/test models)")
    p.add_argument("--views", help="CLIPSxCROPS, e.g. 10x3 (default: the catalogue's)")
    p.add_argument("--batch-size", type=int, help="views per forward pass (default: all views of a video)")
    p.add_argument("--workers", type=int, default=2, help="decoding processes (0: decode in the main process)")
    p.add_argument("--limit", type=int, help="only the first N videos")
    p.add_argument("--out", help="results folder (default runs/evaluate/<name>_<views>)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--fast", action="store_true", help="inference fast paths (zoo.optimize: BN folding, torch.compile)")
    p.set_defaults(func=_cmd_evaluate)
    return p
