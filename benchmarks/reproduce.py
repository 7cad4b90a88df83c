"""Reproduce the published tables: ``zoo reproduce`` (real data) and ``zoo benchmark`` (the main job).

``zoo reproduce --dataset kinetics400 --annotations F --video-root D [--models ...]`` evaluates
every entry of a dataset with its published checkpoint under the published multi-view
protocol (:func:`benchmarks.evaluate.evaluate`), one results folder per entry
(``results/runs/<entry>/``: a rerun resumes each entry where it stopped), then regenerates
the tables (:mod:`benchmarks.tables`). Under ``torchrun`` each entry's videos are sharded over
the ranks (:mod:`benchmarks.runtime.shards`) and rank 0 writes the tables. An entry that cannot run (no builder, checkpoint not
downloadable offline) is reported and skipped; the others go on.

``zoo benchmark`` (what ``make run`` runs; no arguments, no data or downloads needed):

1. measures GFLOPs and params of the whole zoo (:func:`benchmarks.complexity.run`, cached);
2. renders the demo's held-out videos (:mod:`benchmarks.demo.videos`, deterministic);
3. evaluates the demo entry ``i3d_tiny_8x4_demo`` with its shipped checkpoint (sha256
   checked) under its full multi-view protocol (a fresh measurement every run);
4. regenerates every table and the Kinetics-400 FLOPs-vs-top-1 plot into ``results/``, and
   ``results/demo_predict.png`` (:func:`demo_picture`).

Example:
    $ zoo benchmark                        # make run
    $ zoo reproduce --dataset kinetics400 --annotations k400/val.csv --video-root k400/val \\
          --models x3d_xs x3d_s --workers 2
    $ torchrun --nproc-per-node 8 -m benchmarks.cli reproduce --dataset kinetics400 ...   # 8 GPUs
    $ zoo reproduce --dataset ava --annotations ava/ava_val_v2.2.csv --video-root ava/frames
          # each detector on its own box list: ava/person_box_67091280_iou{75,90}/... (or --boxes)
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.run_config import DataFiles, RunConfig, Weights, default_device, load_builder, views_argument
from benchmarks.runtime.shards import is_main_process

DEMO_ENTRY = "i3d_tiny_8x4_demo"
DEMO_SPLIT = "val"


def run_dir(results_dir: str | Path, name: str) -> Path:
    """Where an entry's evaluation results live: ``<results>/runs/<entry>/``."""
    return Path(results_dir) / "runs" / name


def _stage(text: str) -> None:
    if is_main_process():  # under torchrun every rank runs this loop; one prints
        print(f"\n== {text}", flush=True)


def reproduce(
    dataset: str,
    annotations: str | Path,
    video_root: str | Path,
    *,
    models: list[str] | None = None,
    out: str | Path = "results",
    views: str | None = None,
    workers: int = 2,
    batch_size: int | None = None,
    limit: int | None = None,
    device: str = "cpu",
    classes: str | None = None,
    labels: str | None = None,
    frame_list: str | None = None,
    boxes: list[str] | None = None,
    label_map: str | None = None,
    excluded: str | None = None,
    model_factory=None,
) -> dict[str, dict]:
    """Evaluate the entries of ``dataset`` (or ``models``) with their published checkpoints.

    AVA (``dataset="ava"``): each detector on its own person boxes and threshold
    (:func:`benchmarks.ava.evaluate.entry_boxes`: ``boxes`` as ``--boxes``, else the catalogue's
    box list beside the annotations); ``label_map``/``excluded`` default to the official files
    beside the annotations. ``model_factory(entry)`` replaces the published checkpoints (tests).

    Returns ``{entry: metrics.json content}`` for the entries that ran (the failed ones map to
    ``{"error": message}``), and rewrites the tables in ``out``.
    """
    import zoo
    from benchmarks.ava import evaluate as ava_evaluate
    from benchmarks.datasets import load_dataset
    from benchmarks.evaluate import run_evaluation
    from benchmarks.tables import write_tables

    names = [zoo.get_entry(m).name for m in models] if models else zoo.list_models(dataset=dataset)
    wrong = [n for n in names if zoo.get_entry(n).dataset != dataset]
    if wrong:
        raise ValueError(f"not {dataset} entries: {', '.join(wrong)}")
    # one run configuration for the whole table; each entry's is this one with its name and folder
    files = DataFiles(annotations=str(annotations), video_root=str(video_root), dataset=dataset, classes=classes,
                      labels=labels, frame_list=frame_list, label_map=label_map, excluded=excluded)
    base = RunConfig(None, data=files, weights=Weights(pretrained=model_factory is None), views=views,
                     batch_size=batch_size,
                     workers=workers, device=device, limit=limit)
    if dataset != "ava":
        data = load_dataset(dataset, annotations, video_root, classes=classes, labels=labels, frame_list=frame_list)
    results: dict[str, dict] = {}
    for i, name in enumerate(names, 1):
        _stage(f"[{i}/{len(names)}] {name}")
        try:
            if dataset == "ava":
                entry = zoo.get_entry(name)
                files = replace(files, boxes=ava_evaluate.entry_boxes(entry, boxes, annotations))
                config = replace(base, entry=entry, data=files, batch_size=batch_size or 1, views=None,
                                 out=str(run_dir(out, name)))
                results[name] = ava_evaluate.run_ava_evaluation(config, model_factory=model_factory)
                continue
            config = replace(base, entry=name, out=str(run_dir(out, name)))
            results[name] = run_evaluation(config, dataset=data, model_factory=model_factory)
        except (zoo.BuilderNotAvailableError, OSError, RuntimeError, ValueError) as err:
            # one entry that cannot run (no builder, checkpoint unreachable) must not stop the rest;
            # under torchrun every rank gets the same error (benchmarks.runtime.shards), so all skip it
            if is_main_process():
                print(f"zoo reproduce: {name} skipped: {err}", file=sys.stderr)
            results[name] = {"error": str(err)}
    if is_main_process():
        _stage("tables")
        write_tables(out, command=f"zoo reproduce --dataset {dataset}")
    return results


def demo_checkpoint() -> tuple[Path, str]:
    """The demo entry's shipped checkpoint and its sha256 (from the catalogue)."""
    import zoo

    entry = zoo.get_entry(DEMO_ENTRY)
    return Path(entry.url), entry.sha256


def evaluate_demo(
    out: str | Path = "results",
    *,
    data_root: str | Path | None = None,
    videos: int | None = None,
    workers: int = 1,
    fresh: bool = True,
    progress: bool = True,
    **options,
) -> dict:
    """Render the demo's held-out videos and evaluate the demo entry on them (full protocol).

    ``videos`` renders and evaluates only the first held-out videos (a quick check). ``fresh``
    clears the entry's results folder first: the benchmark measures anew every time instead of
    resuming scores that an older checkpoint may have produced. ``options`` go to
    :func:`benchmarks.evaluate.evaluate` (``device``, ``fast``, ``dtype``, ``batch_size``).
    """
    import zoo
    from benchmarks.demo import videos as demo_data
    from benchmarks.datasets import read_path_label_list
    from benchmarks.evaluate import evaluate

    root = Path(data_root) if data_root else demo_data.default_root()
    split = {DEMO_SPLIT: demo_data.DEFAULT_SPLITS[DEMO_SPLIT]}
    annotations = demo_data.generate(root, split, limit=videos, progress=progress)
    dataset = read_path_label_list(annotations[DEMO_SPLIT], root, name="demo")
    checkpoint, sha256 = demo_checkpoint()

    def build(entry):
        model = zoo.create_model(entry.name)
        return zoo.load_checkpoint(model, checkpoint, sha256=sha256, progress=False)

    target = run_dir(out, DEMO_ENTRY)
    if fresh and target.exists():
        shutil.rmtree(target)
    return evaluate(DEMO_ENTRY, dataset, target, model_factory=build, workers=workers, progress=progress, **options)


#: The picture ``zoo benchmark`` (``make run``) draws of one held-out demo video, in the results folder.
DEMO_PICTURE = "demo_predict.png"


def demo_picture(out="results", *, data_root=None) -> Path:
    """``<out>/demo_predict.png``: what the shipped demo model saw on the first held-out demo video.

    The same call as ``zoo predict <video> --model i3d_tiny_8x4_demo --pretrained --show``, on
    the video that ``zoo benchmark`` has just rendered (the whole split, so its cache stays valid).
    """
    from benchmarks.demo import videos as demo_data
    from benchmarks.predict import save_picture
    from zoo.prediction import predict

    root = Path(data_root) if data_root else demo_data.default_root()
    split = {DEMO_SPLIT: demo_data.DEFAULT_SPLITS[DEMO_SPLIT]}
    annotations = demo_data.generate(root, split, progress=False)[DEMO_SPLIT]
    key, label = annotations.read_text().splitlines()[0].split()
    result = predict(DEMO_ENTRY, root / key)
    title = f"{key} (true class: {demo_data.CLASSES[int(label)]})  |  {result.model}  |  {result.views} views"
    return save_picture(result, Path(out) / DEMO_PICTURE, title=title)


def benchmark(out: str | Path = "results", *, data_root: str | Path | None = None, complexity: bool = True) -> dict:
    """The main job (``make run``): complexity of the zoo, demo evaluation, tables and plot."""
    from benchmarks.tables import write_tables

    started = time.perf_counter()
    summary: dict = {}
    if complexity:
        from benchmarks.complexity import run as complexity_run

        _stage("1/3 complexity of the zoo (fvcore; cached per entry)")
        frame = complexity_run(None, out_dir=out, use_cache=True)
        summary["complexity_entries"] = int(len(frame))
    _stage("2/3 demo: render the held-out videos, evaluate the demo model (full multi-view protocol)")
    result = evaluate_demo(out, data_root=data_root)
    summary["demo"] = result
    _stage("demo picture: what the demo model saw on a held-out video (zoo predict --show)")

    print(f"  {demo_picture(out, data_root=data_root)}")
    _stage("3/3 tables and plot; the test-input protocol audit")
    from benchmarks.audit import write_audit

    for path in [*write_tables(out, command="zoo benchmark"), *write_audit(out)]:
        print(f"  {path}")
    elapsed = time.perf_counter() - started
    published = result["published"]
    line = ", ".join(f"{k} {result['metrics'][k]:.2f} (published {published[k]:.2f})" for k in published if k in result["metrics"])
    print(f"\ndemo {DEMO_ENTRY}: {line} on {result['videos']} held-out videos; benchmark done in {elapsed:.0f} s")
    summary["wall_s"] = elapsed
    return summary


def _cmd_reproduce(args: argparse.Namespace) -> int:
    try:
        results = reproduce(
            args.dataset, args.annotations, args.video_root, models=args.models, out=args.out, views=args.views,
            workers=args.workers, batch_size=args.batch_size, limit=args.limit, device=args.device or default_device(),
            classes=args.classes, labels=args.labels, frame_list=args.frame_list, boxes=args.boxes,
            label_map=args.label_map, excluded=args.excluded,
            model_factory=load_builder(args.builder) if args.builder else None,
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"zoo reproduce: {err}", file=sys.stderr)
        return 2
    return 1 if any("error" in r for r in results.values()) else 0


def _cmd_benchmark(args: argparse.Namespace) -> int:
    benchmark(args.out, data_root=args.demo_data, complexity=not args.skip_complexity)
    return 0


def add_parser(subparsers) -> None:
    """Add ``zoo reproduce`` and ``zoo benchmark``."""
    import torch

    p = subparsers.add_parser(
        "reproduce",
        help="evaluate every entry of a dataset with its published checkpoint, then the tables",
        description="Evaluate every entry of a dataset (published checkpoints, published protocol); "
        "resumable per entry (results/runs/<entry>/); then regenerate the tables.",
    )
    p.add_argument("--dataset", required=True, choices=["kinetics400", "ssv2", "charades", "ava", "demo"],
                   help="whose entries to evaluate (demo: the shipped demo entry on benchmarks/demo/videos.py videos)")
    p.add_argument("--annotations", required=True, help="the dataset's annotation file (see zoo evaluate)")
    p.add_argument("--video-root", required=True, help="folder holding the videos")
    p.add_argument("--models", nargs="+", help="only these entries (names or aliases); default: all of the dataset")
    p.add_argument("--out", default="results", help="results folder (runs/<entry>/ and the tables)")
    p.add_argument("--views", type=views_argument, help="CLIPSxCROPS overriding the catalogue's (e.g. 10x3)")
    p.add_argument("--workers", type=int, default=2, help="decoding processes")
    p.add_argument("--batch-size", type=int, help="views per forward pass")
    p.add_argument("--limit", type=int, help="only the first N videos (a quick check)")
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda where torch sees a GPU, else cpu)")  # resolved when run: the reference pages show no build machine's
    p.add_argument("--classes", help="class list in checkpoint index order")
    p.add_argument("--labels", help="SSv2 labels JSON")
    p.add_argument("--frame-list", help="SSv2: PySlowFast's frame-list val.csv (the published layout; see README)")
    p.add_argument("--boxes", nargs="+", metavar="[ENTRY=]FILE",
                   help="AVA person boxes CSV: FILE for every entry, ENTRY=FILE for one (default: each entry's "
                   "catalogued box list, e.g. person_box_67091280_iou90/..., beside --annotations)")
    p.add_argument("--label-map", help="AVA label map .pbtxt (default: the official file beside --annotations)")
    p.add_argument("--excluded", help="AVA excluded timestamps CSV (default: the official file beside --annotations)")
    p.add_argument("--builder", help="module:function(entry) -> model instead of the published checkpoints (custom/test models)")
    p.set_defaults(func=_cmd_reproduce)

    p = subparsers.add_parser(
        "benchmark",
        help="the main job (make run): zoo complexity, demo evaluation, every table and the plot",
        description="Measure the zoo's complexity, evaluate the shipped demo model on its generated "
        "held-out videos with the full multi-view protocol, and regenerate results/.",
    )
    p.add_argument("--out", default="results", help="results folder (default: results/)")
    p.add_argument("--demo-data", help="where the demo videos are rendered (default: $VIDEOZOO_DEMO_DATA or the user cache)")
    p.add_argument("--skip-complexity", action="store_true", help="reuse results/complexity.csv as it is")
    p.set_defaults(func=_cmd_benchmark)
