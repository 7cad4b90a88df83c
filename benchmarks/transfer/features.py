"""``zoo features``: per-video embeddings (the head's input, pooled over the entry's test views).

Each video is decoded once into the entry's test views (the evaluation's decoder and
DataLoader workers, :func:`benchmarks.evaluate.decoded_videos`), run through the model, and
its embedding (:func:`zoo.features.video_embedding`) appended to ``features.jsonl`` in ``--out``
as one line ``{"key", "label", "embedding"}`` (``label``: an index into ``classes.txt`` beside it), flushed at once: a killed run keeps every video
it finished, and a rerun into the same folder embeds only the others (a line cut short by the
kill is dropped). Videos that cannot be read go to ``failures.jsonl``. ``config.json`` records
the job; a folder of another job is refused.

Example:
    $ zoo features x3d_xs --pretrained --dataset ucf101 --annotations ucfTrainTestlist/testlist01.txt \\
        --video-root UCF-101 --out runs/features/x3d_xs_ucf101_test
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from benchmarks.datasets import (
    TRANSFER_DATASETS,
    AnnotationError,
    VideoDataset,
    load_any_classes,
    load_dataset,
    read_transfer_split,
)
from benchmarks.run_config import FAILURES_FILE, Weights, check_config, default_device, views_argument
from benchmarks.runtime.files import atomic_write
from benchmarks.runtime import shards
from zoo.classes import CLASSES_BESIDE_CHECKPOINT

FEATURES_FILE = "features.jsonl"
CLASSES_FILE = CLASSES_BESIDE_CHECKPOINT  # the name a run folder gives its class list


def read_features(path, repair: bool = True) -> dict[str, dict]:
    """The videos of a ``features.jsonl``: key -> ``{"key", "label", "embedding"}`` (a line cut
    short by a kill dropped, and with ``repair`` cut off the file)."""
    return shards.read_keyed_lines(path, "key", repair=repair)


def extract_features(entry_name: str, dataset: VideoDataset, out_dir, *, weights: Weights = Weights(),
                     model=None, model_weights: str | None = None, views: str | None = None, workers: int = 0,
                     device: str = "cpu", progress: bool = True) -> dict[str, list[float]]:
    """Embed every video of ``dataset`` into ``out_dir/features.jsonl`` (resumable); returns key ->
    embedding of every video in the file. ``model``: a built model instead of ``weights``, and
    ``model_weights`` what ``config.json`` records of its weights (default ``"given model"``), so
    that a resume with other weights is refused instead of mixing two models' embeddings."""
    from tqdm.auto import tqdm

    import zoo
    from benchmarks.evaluate import decoded_videos
    from benchmarks.runtime.view_buffers import release_when_freed
    from zoo.features import video_embedding
    from zoo.transforms import InputSpec

    entry = zoo.get_entry(entry_name)
    spec = InputSpec.from_entry(entry, views)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    check_config(out, {"model": entry.name, "weights": model_weights or weights.record(model=model),
                       "views": spec.views_label,
                       "dataset": dataset.name, "annotations": dataset.source, "kind": "features"})
    if dataset.classes:  # the "label" of each line is an index into this list
        atomic_write(out / CLASSES_FILE, "".join(f"{name}\n" for name in dataset.classes))
    path = out / FEATURES_FILE
    done = read_features(path) if path.exists() else {}
    todo = [r for r in dataset.records if r.key not in done]
    with decoded_videos(todo, spec, workers=workers, batch_size=None, device=device) as items:
        if model is None:
            model = weights.model_factory()(entry)
        model = model.to(device).eval()
        bar = tqdm(total=len(dataset.records), initial=len(dataset.records) - len(todo),
                   desc=f"features {entry.name}", unit="video", disable=not progress)
        with open(path, "a") as features, open(out / FAILURES_FILE, "a") as failures:
            for item in items:
                record = todo[item["index"]]
                if "error" in item:
                    failures.write(json.dumps({"key": record.key, "path": record.path, "error": item["error"]}) + "\n")
                    failures.flush()
                else:
                    views = item["views"]
                    if "lease" in item:
                        release_when_freed(views, item["lease"])
                    views = [v.to(device) for v in views] if isinstance(views, list) else views.to(device)
                    embedding = video_embedding(model, views).cpu()
                    line = {"key": record.key, "label": record.label, "embedding": embedding.tolist()}
                    features.write(json.dumps(line) + "\n")
                    features.flush()
                    done[record.key] = line
                bar.update()
        bar.close()
    return {k: v["embedding"] for k, v in done.items()}


def _load(args) -> VideoDataset:
    if args.dataset in TRANSFER_DATASETS:
        return read_transfer_split(args.dataset, args.annotations, args.video_root, subset=args.subset, split=args.split)
    if args.dataset:
        return load_dataset(args.dataset, args.annotations, args.video_root, classes=args.classes)
    # No dataset named: maybe a Kinetics-format CSV of the user's own classes. Embeddings need no
    # class order, so its labels are numbered by its own sorted names (written to OUT/classes.txt).
    dataset, own = load_any_classes("kinetics400", args.annotations, args.video_root, classes=args.classes)
    if own is not None:
        print(f"zoo features: note: {own.path} holds labels outside Kinetics-400's classes (line {own.line}); "
              "its labels are numbered by the file's own sorted class names", file=sys.stderr)
    return dataset


def _cmd_features(args: argparse.Namespace) -> int:
    try:
        dataset = _load(args)
        weights = Weights(args.pretrained, args.checkpoint)
        if weights.random:
            print(f"zoo features: note: {args.name} has random weights (no --pretrained/--checkpoint): the "
                  "embeddings are of an untrained network", file=sys.stderr)
        done = extract_features(args.name, dataset, args.out, weights=weights, views=args.views,
                                workers=args.workers, device=args.device or default_device(), progress=not args.quiet)
    except (AnnotationError, FileNotFoundError, ValueError) as err:
        print(f"zoo features: {err}", file=sys.stderr)
        return 2
    print(f"{len(done)}/{len(dataset)} videos embedded in {Path(args.out) / FEATURES_FILE}")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``zoo features`` to the ``zoo`` command line."""
    p = subparsers.add_parser(
        "features", help="per-video embeddings (the head's input, pooled over the test views; resumable)",
        description="Embed every video of an annotation file with an entry's backbone: the input of its "
        "classifier, averaged over the entry's test views; one JSON line per video, resumable.")
    p.add_argument("name", help="canonical name or alias")
    p.add_argument("--annotations", required=True, help="annotation file (or HMDB51 splits folder, or class-folder root)")
    p.add_argument("--video-root", help="folder holding the videos")
    p.add_argument("--dataset", choices=["kinetics400", "ssv2", "charades", *TRANSFER_DATASETS],
                   help="annotation format (default: Kinetics CSV or a 'path label' list)")
    p.add_argument("--subset", default="all", choices=["train", "val", "all"],
                   help="hmdb51/folders: which side of the split (hmdb51: val is the test rows, all the train and test rows)")
    p.add_argument("--split", type=int, default=1, help="hmdb51 split (1-3)")
    p.add_argument("--classes", help="class list (Kinetics CSV, plain lists)")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--pretrained", action="store_true")
    weights.add_argument("--checkpoint")
    p.add_argument("--views", type=views_argument, help="CLIPSxCROPS (default: the entry's test views)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda where torch sees a GPU, else cpu)")  # resolved when run: the reference pages show no build machine's
    p.add_argument("--out", required=True)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_features)
    return p
