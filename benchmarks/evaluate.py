"""Multi-view evaluation of a zoo entry on a dataset: resumable, decode once per video.

Data flow: annotation records -> (DataLoader workers, or with none and a GPU model a thread
one video ahead) one decode per video and every view
of the entry's test protocol (:mod:`zoo.input.video`, :mod:`zoo.transforms`; a worker
builds them into shared memory it reuses once the model is done with them,
:mod:`benchmarks.runtime.view_buffers`) -> the model,
in batches of views -> per-video aggregation -> one JSON line per video in
``<out>/scores.jsonl``, flushed as each video finishes -> metrics over all finished videos
-> ``<out>/metrics.json`` (written atomically) and a one-line summary.

Aggregation over a video's views: single-label sets average the softmax scores (a model
whose head already applies softmax, like X3D's, is not softmaxed twice); multi-label sets
(Charades) take sigmoid scores and their maximum over views, as PySlowFast does.

Resuming: a rerun with the same ``out`` reads ``scores.jsonl`` (and every rank's score
file, see below), drops a last line cut short by a kill (truncating the file back to its
last complete line) and evaluates only the videos not in them, so no video is ever scored
twice. ``out/config.json`` records model, views and dataset, and what changes labels or
inputs (the class list, the annotation file's sha256, the video root, a checkpoint file's
sha256); a rerun with different ones is refused instead of mixing results.

Failures (missing, zero-length, unreadable, truncated videos) go to ``<out>/failures.jsonl``
(key, path, reason), are left out of the metrics and counted in the summary; they are
retried by the next run, which rewrites that file.

Many processes, GPUs, machines: started by ``torchrun``, the videos are sharded over the
ranks (:mod:`benchmarks.runtime.shards`): rank K of W appends to ``scores.rank-K-of-W.jsonl`` (and
``failures.rank-K-of-W.jsonl``), and rank 0 merges every score file of the folder, whatever
world size wrote it, into ``metrics.json`` (:func:`merge_results`, also ``zoo merge``); a
video in two files counts once, videos are taken in annotation order, so the metrics are
those of a single-process run. The merge also consolidates the score files into the one
``scores.jsonl`` (annotation order, each video once; then the rank files are deleted), so
every run, one process or many, resumed or not, ends with one ``scores.jsonl`` and one
``failures.jsonl``. ``records.json`` lists the evaluated videos in order. The
metric is looked up by name (:data:`benchmarks.metrics.METRICS`).

The run is described by one :class:`~benchmarks.run_config.RunConfig` (what the command line
builds, and what ``config.json`` records of it); :func:`evaluate` is its keyword form.

Example (Python API):
    >>> from benchmarks.run_config import DataFiles, RunConfig, Weights
    >>> config = RunConfig("x3d_xs", data=DataFiles("val.txt", "videos/"), weights=Weights(pretrained=True),
    ...                    views="10x3", workers=2, out="runs/x3d_xs")
    >>> # result = run_evaluation(config)
    >>> # result["metrics"]["top1"]
    >>> # the same: evaluate("x3d_xs", read_path_label_list("val.txt", "videos/"), "runs/x3d_xs",
    >>> #                    pretrained=True, views="10x3", workers=2)

Command line:
    $ zoo evaluate x3d_xs --annotations kinetics400/val.csv --video-root kinetics400/val \\
          --pretrained --views 10x3 --workers 2 --out runs/x3d_xs
    $ torchrun --nproc-per-node 8 -m benchmarks.cli evaluate x3d_xs ... --out runs/x3d_xs  # 8 GPUs
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchmarks import metrics as metrics_lib
from benchmarks.compat import moved_names
from benchmarks.datasets import TRANSFER_DATASETS, VideoDataset, VideoRecord, load_dataset, normalize_name
from benchmarks.run_config import (
    CONFIG_FILE,
    FAILURES_FILE,
    METRICS_FILE,
    OWN_CLASSES,
    RECORDS_FILE,
    RunConfig,
    Weights,
    absolute,
    check_config,
    check_same_job,
    device_problem,
    local_checkpoint,
)
from benchmarks.runtime import shards
from benchmarks.runtime.files import atomic_write, write_json_atomic
from benchmarks.runtime.prefetch import prefetched
from benchmarks.runtime.view_buffers import release_when_freed, worker_buffers
from benchmarks.runtime.workers import as_is, decoding_worker_init
from zoo.checkpoints import sha256_of
from zoo.classes import ClassListUnavailable, class_names
from zoo.input.source import VideoReadError
from zoo.provenance import current_weights
from zoo.registry import get_entry
from zoo.input.video import read_views
from zoo import scoring
from zoo.view_batches import ViewBatcher

SCORES_FILE = "scores.jsonl"

#: Moved to the library (zoo.scoring): importing them from here warns for one release.
__getattr__ = moved_names(__name__, {name: "zoo.scoring" for name in (
    "output_activation", "view_scores", "aggregate", "view_scorer", "score_video")} | {
    "default_model_factory": "benchmarks.run_config"})


# --------------------------------------------------------------------------- results files


def read_scores(path, repair: bool = True) -> dict[str, dict]:
    """Finished videos in a ``scores.jsonl``: key -> its record (first occurrence wins).

    A last line cut short by a kill (no final newline) is dropped, and with
    ``repair`` the file is truncated back to its last complete line so appends stay clean.
    A bad line elsewhere is an error naming the file and line.
    """
    return shards.read_keyed_lines(path, "key", repair=repair)


# --------------------------------------------------------------------------- decoding workers


class VideoViews(torch.utils.data.Dataset):
    """Item ``i``: every view of video ``records[i]`` from one decode, or the reason it failed."""

    def __init__(self, records: list[VideoRecord], spec, thread_type: str | None = None, videos_held: int = 0):
        self.records, self.spec, self.thread_type = records, spec, thread_type
        self.videos_held = videos_held  # beyond the usual, by cross-video batching (benchmarks.runtime.view_buffers)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        start = time.perf_counter()
        record = self.records[index]
        # In a DataLoader worker the views are built into shared memory the worker reuses
        # (benchmarks.runtime.view_buffers); the lease sent with them is how it gets the memory back.
        buffers = worker_buffers(self.videos_held) if torch.utils.data.get_worker_info() is not None else None
        try:
            with buffers.building() if buffers is not None else contextlib.nullcontext():
                views, info = read_views(record.source, self.spec, thread_type=self.thread_type)
                lease = buffers.claim(views) if buffers is not None else None
        except VideoReadError as err:
            # a frame folder's failure names the frame file at fault, not just the folder
            where = "" if err.path in (str(record.path), "") else f"{err.path}: "
            return {"index": index, "error": where + err.reason}
        except Exception as err:  # a bad file must not end an hours-long run; name it instead
            return {"index": index, "error": f"{err.__class__.__name__}: {err}"}
        item = {"index": index, "views": views, "decode_s": time.perf_counter() - start, "frames": info.decoded_frames}
        if lease is not None:
            item["lease"] = lease
        return item


# --------------------------------------------------------------------------- evaluation


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
    distributed: bool | None = None,
    protocol_of: str | None = None,
    fast: bool = False,
    dtype: str = "fp32",
) -> dict:
    """Evaluate an entry (name or :class:`zoo.ZooEntry`) on ``dataset``; results in ``out_dir``.

    The keyword form of :func:`run_evaluation`: the arguments are :class:`RunConfig`'s fields
    (``pretrained``/``checkpoint`` its :class:`Weights`), plus what a configuration does not
    hold: the loaded ``dataset``, a ``model`` object or a ``model_factory(entry)``, and how to
    report (``progress``, ``log``), shard (``distributed``) and decode (``thread_type``).
    """
    config = RunConfig(entry_or_name, weights=Weights(pretrained, checkpoint), views=views, batch_size=batch_size,
                       workers=workers, device=device, dtype=dtype, fast=fast, protocol_of=protocol_of, limit=limit,
                       out=str(out_dir))
    return run_evaluation(config, dataset=dataset, model=model, model_factory=model_factory, progress=progress,
                          thread_type=thread_type, log=log, distributed=distributed)


def run_evaluation(
    config: RunConfig,
    *,
    dataset: VideoDataset | None = None,
    model: nn.Module | None = None,
    model_factory: Callable | None = None,
    progress: bool = True,
    thread_type: str | None = None,
    log: Callable[[str], None] | None = print,
    distributed: bool | None = None,
) -> dict:
    """Evaluate ``config.entry`` on a video dataset as ``config`` says; results in its run folder.

    ``dataset``: the loaded annotations (default: read from ``config.data``). The model is
    ``model``, else ``model_factory(entry)``, else built from ``config.weights``; it maps a
    batch of views (a tensor, or ``[slow, fast]``) to ``(B, classes)``. ``config.views``:
    ``"CLIPSxCROPS"`` overriding the catalogue's; ``config.batch_size``: views per forward
    pass, filled with views of the next videos when a video has fewer (on a GPU, e.g. 64 or
    128 keeps a small model busy; default: all views of a video, one pass per video);
    ``config.limit``: the first N videos. ``config.protocol_of``: run under another entry's
    test protocol (its rules and views; the model's own frames, sizes and mean/std), for a
    like-for-like comparison.

    ``distributed``: ``None`` shards the videos over the ranks when started by torchrun
    (:mod:`benchmarks.runtime.shards`; device ``cuda:LOCAL_RANK`` for a GPU device,
    ``config.workers`` decoding processes per rank), ``False`` never does. Every rank returns
    the merged result.

    ``config.fast``: run the model through :func:`zoo.optimize` (BN folding, torch.compile,
    CUDA graphs, ...; compiled for the batch of views this run feeds it). ``config.dtype``:
    ``bf16``/``fp16`` runs the model under autocast (with or without ``fast``).

    Returns the content of ``metrics.json``: ``metrics`` (e.g. ``top1``/``top5`` or ``map``),
    ``videos`` scored, ``failed``, ``total``, ``published`` and ``timing`` of this run.
    """
    import zoo

    from zoo.transforms import InputSpec

    entry_or_name = config.entry
    views, batch_size, workers, limit = config.views, config.batch_size, config.workers, config.limit
    device, dtype, fast, protocol_of = config.device, config.dtype, config.fast, config.protocol_of
    entry = zoo.get_entry(entry_or_name) if isinstance(entry_or_name, str) else entry_or_name
    problem = device_problem(device, artifact=bool(config.weights.artifact))
    if problem:  # here, not as CUDA's traceback once the model is built
        raise ValueError(problem)
    if entry.dataset == "ava":
        # detectors need person boxes per keyframe and frame mAP: benchmarks.ava.evaluate
        raise ValueError(f"{entry.name} is an AVA detection model: evaluate it with benchmarks.ava.evaluate.run_ava_evaluation "
                         "(zoo evaluate ... --dataset ava --boxes ...)")
    if dtype == "fp16" and not str(device).startswith("cuda"):
        raise ValueError("fp16 autocast needs a GPU (--device cuda); on CPU use --dtype bf16")
    if limit is not None and limit < 1:  # a slice [:0] would otherwise mean every video
        raise ValueError(f"--limit {limit}: give the number of videos to evaluate, 1 or more (leave it out for all)")
    if config.weights.artifact and (fast or dtype != "fp32"):
        raise ValueError("--artifact runs the exported file as it was exported: --fast and --dtype do not apply")
    config.weights.check(entry)  # before anything is written to the run folder
    rules_entry = zoo.get_entry(protocol_of) if protocol_of else None
    spec = InputSpec.from_entry(entry, views, protocol_of_entry=rules_entry)
    if dataset is None:
        dataset = config_dataset(config, entry)
    out_dir = config.out_dir(entry.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    ranks = shards.join(distributed, device)
    device = ranks.device(device)
    job = job_record(config, entry, spec, dataset, model=model, model_factory=model_factory)
    records = dataset.records[:limit] if limit else list(dataset.records)
    keys = [r.key for r in records]
    fresh = []  # whether this run wrote config.json: see the model's build below

    def prepare():  # rank 0 only, before any rank writes
        if check_config(out_dir, job):
            fresh.append(True)
        write_json_atomic(out_dir / RECORDS_FILE, {"keys": keys, "metric": dataset.metric})

    def scored():  # rank 0: the videos scored before, their labels this run's (see check_scored_labels)
        finished = shards.read_results(out_dir, SCORES_FILE, repair=True)
        check_scored_labels(finished, records, out_dir)
        return finished

    started = time.perf_counter()
    plan = shards.plan(ranks, out_dir, keys, results=SCORES_FILE, failures=FAILURES_FILE,
                       weight=lambda i: shards.file_size(records[i].path), prepare=prepare, read=scored)
    todo = [records[i] for i in plan.mine]
    if plan.finished and log is not None and ranks.is_main:
        log(f"resuming {out_dir}: {plan.finished} of {len(keys)} videos already scored")
    left_out = dataset.meta.get("not_in_frame_list")
    if left_out and log is not None and ranks.is_main:  # as PyTorchVideo's SSv2 does: said, not silent
        log(f"note: {left_out} annotated video(s) are not in the frame list and are left out")

    def build():
        check_same_job(ranks, out_dir, job, keys, "videos", "annotations, --limit")
        if not todo:
            return None
        factory = model_factory or config.weights.model_factory()
        built = (model if model is not None else factory(entry)).eval().to(device)
        check_model_classes(built, dataset, entry)
        if fast or dtype != "fp32":
            from zoo.fast import example_input

            example = example_input(entry, batch=batch_size or spec.num_views,
                                    frames=spec.num_frames, size=spec.crop_size, device=device)
            plain = {} if fast else {"fold_bn": False, "channels_last": False, "compile": False, "cuda_graph": False,
                                     "host_memory": False}
            built = zoo.optimize(built, example, device=device, dtype=dtype, **plain)
        return built

    # Decoding starts before the model is built (see decoded_videos), and stops on any way out.
    with decoded_videos(todo, spec, workers=workers, batch_size=batch_size, device=device,
                        thread_type=thread_type) as items:
        # every rank takes part in every step, even with nothing to do (see benchmarks.runtime.shards)
        try:
            model = ranks.in_waves(build)
        except Exception:
            # Nothing is scored yet: a folder this run created must not keep a config.json naming
            # weights that did not load (another entry's checkpoint), which would refuse the rerun
            # with the right ones.
            if fresh:
                for name in (CONFIG_FILE, RECORDS_FILE):
                    (out_dir / name).unlink(missing_ok=True)
            raise
        bar, tick = shards.run_progress(ranks, plan, out_dir, entry.name, "video", [SCORES_FILE, FAILURES_FILE],
                                        show=progress and ranks.is_main)
        with bar:
            stats = ranks.agree(
                lambda: _score_share(model, items, todo, spec, dataset, entry, out_dir / ranks.file_name(SCORES_FILE),
                                     out_dir / ranks.file_name(FAILURES_FILE), batch_size=batch_size, device=device,
                                     bar=bar, tick=tick,
                                     failed_label="failed" if not ranks.distributed else "failed (rank 0)"),
                waiting=tick,
            )
            tick(force=True)  # the other ranks' last videos
    everyone = ranks.gather(stats)
    written = {s["file"]: s["bytes"] for s in everyone}
    wall_s = time.perf_counter() - started
    scored = sum(s["scored"] for s in everyone)
    timing = {
        "videos_this_run": scored,
        "wall_s": wall_s,
        "videos_per_s": scored / wall_s if scored and wall_s > 0 else None,
        "decode_s": sum(s["decode_s"] for s in everyone),
        "model_s": sum(s["model_s"] for s in everyone),
        # Start-up (from the model being ready to the first scores: the first decode if not
        # done yet, the first pass) weighs on a short run only; the rate after each rank's
        # first videos is what a long evaluation runs at. The ranks run side by side, so their
        # rates add up (a rank that scored all its videos at once has no such rate and is left
        # out: None when no rank has one).
        "first_video_s": max((s["first_video_s"] for s in everyone if s["first_video_s"] is not None), default=None),
        "steady_videos_per_s": sum(s["steady_videos"] / s["steady_s"] for s in everyone if s["steady_videos"]) or None,
        "workers": workers,
        "ranks": ranks.world_size,
    }

    def merge():
        shards.wait_visible(out_dir, written)  # the other machines' files, on a network file system
        return merge_results(out_dir, timing=timing, keys=keys, metric=dataset.metric,
                             published=published_on(entry, dataset.name), entry=entry, annotated=len(dataset.records))

    result = ranks.on_main(merge)
    if log is not None and ranks.is_main:
        log(summary_line(result))
    return result


def config_dataset(config: RunConfig, entry) -> VideoDataset:
    """The annotations ``config.data`` names, read in its format (default: the entry's dataset's).

    A list of other classes than the entry's dataset given without ``--dataset`` (a ``zoo
    finetune`` run's ``val.txt``, its ``classes.txt`` beside it) is named :data:`OWN_CLASSES`, not
    the entry's dataset: neither its result nor the published figures set beside it are that dataset's.
    """
    data = config.data
    dataset = load_dataset(data.dataset or entry.dataset, data.annotations, data.video_root, classes=data.classes,
                           labels=data.labels, frame_list=data.frame_list, split=data.split or 1)
    if data.dataset is None and dataset.classes is not None:
        try:
            own = class_names(entry.dataset)
        except ClassListUnavailable:
            own = None
        if own is not None and [normalize_name(c) for c in dataset.classes] != [normalize_name(c) for c in own]:
            dataset.name = OWN_CLASSES
    return dataset



def published_on(entry, dataset: str) -> dict:
    """The entry's published metrics, to set beside a result on ``dataset``: none on a transfer
    set (:data:`benchmarks.datasets.TRANSFER_DATASETS`) or a list of one's own classes
    (:data:`OWN_CLASSES`), where the model is a fine-tuned head whose classes the published
    figures are not of.

    Example:
        >>> from zoo.registry import get_entry
        >>> sorted(published_on(get_entry("x3d_xs"), "kinetics400")), published_on(get_entry("x3d_xs"), "ucf101")
        (['top1', 'top5'], {})
        >>> published_on(get_entry("i3d_tiny_8x4_demo"), OWN_CLASSES)  # a list of the user's own classes
        {}
    """
    return {} if dataset in TRANSFER_DATASETS or dataset == OWN_CLASSES else dict(entry.published)


def job_record(config: RunConfig, entry, spec, dataset: VideoDataset, *, model=None, model_factory=None) -> dict:
    """What ``config.json`` holds of a video evaluation: the fields a resume must match."""
    job = {
        "model": entry.name,
        "views": spec.views_label,
        "dataset": dataset.name,
        "annotations": absolute(dataset.source),
        "weights": config.weights.record(model=model, model_factory=model_factory),
    }
    if config.protocol_of:  # only then: earlier runs' config.json have no such key
        job["protocol_of"] = get_entry(config.protocol_of).name
    if config.dtype != "fp32":  # likewise; reduced precision changes the scores, so a resume must match it
        job["dtype"] = config.dtype
    if config.batch_size:  # likewise: passes of views from several videos change the scores' last bits
        job["batch_size"] = config.batch_size
    # What changes the labels or the inputs under the same paths (run_config.ADDED_FIELDS: compared
    # where both runs know them): the class list gives a Kinetics label its index, an edited
    # annotation file other videos or labels, another video root other files.
    job["classes"] = None
    if dataset.classes is not None:
        digest = hashlib.sha256("\n".join(dataset.classes).encode()).hexdigest()
        job["classes"] = f"{len(dataset.classes)} classes, sha256 {digest}"
    if dataset.source and Path(dataset.source).is_file():  # not a folder (hmdb51's splits, folders)
        job["annotations_sha256"] = sha256_of(dataset.source)
    if config.data.video_root:  # the Python API given a loaded dataset does not know it
        job["video_root"] = absolute(config.data.video_root)
    if config.data.frame_list and Path(config.data.frame_list).is_file():  # SSv2's frames: which files each video reads
        job["frame_list_sha256"] = sha256_of(config.data.frame_list)
    # a plain path only: a file:// source is read from its cached copy, which may not be this file
    source = config.weights.checkpoint
    checkpoint = local_checkpoint(source) if source and "://" not in str(source) else None
    if model is None and model_factory is None and checkpoint is not None and checkpoint.is_file():
        job["weights_sha256"] = sha256_of(checkpoint)  # the same path, retrained, is other weights
    return job


@contextlib.contextmanager
def decoded_videos(todo: list[VideoRecord], spec, *, workers: int, batch_size: int | None, device,
                   thread_type: str | None = None) -> Iterator:
    """The items of :class:`VideoViews` for ``todo``, in order, decoding from the moment this
    context opens: ``workers`` DataLoader processes, or with none and a GPU model a thread one
    video ahead, or (none, CPU model) as they are asked for.

    :func:`evaluate` opens it before it builds the model, so the workers fork from a process
    without the model (no copy-on-write of its memory on the first pass) and the first
    videos decode while the weights load and the model compiles. Leaving it stops them, and
    so does :func:`stop_decoding` (a rank whose scoring failed must not keep its workers while
    it waits for the other ranks).
    """
    if not todo:
        yield iter(())
        return
    loader = torch.utils.data.DataLoader(
        # a pass of batch_size views holds that many videos' views (and the one it began in)
        VideoViews(todo, spec, thread_type, videos_held=-(-batch_size // spec.num_views) + 1 if batch_size else 0),
        batch_size=None,
        num_workers=workers,
        collate_fn=as_is,
        worker_init_fn=decoding_worker_init if workers else None,
        prefetch_factor=2 if workers else None,
    )
    # Without workers and with the model on a GPU, the next video decodes on a thread while
    # the model scores this one. Not with the model on the CPU: there the two would share
    # the cores anyway, and a thread's big buffers come from a glibc arena that hands them
    # back to the kernel (host_memory keeps only the main thread's). With workers, they fork
    # here and start on their first videos; with neither, videos decode one by one on demand.
    items = prefetched(loader) if not workers and not str(device).startswith("cpu") else iter(loader)
    try:
        yield items
    finally:
        stop_decoding(items)


def check_model_classes(model, dataset, entry) -> None:
    """Refuse a class list that is not the model's own, when the model knows its own: a
    fine-tuned checkpoint's (``classes.txt`` beside it) or an exported file's (its manifest).
    The dataset's labels are numbered by that list, so another run's list, or the right names
    in another order, scores every video against the wrong outputs (top-1 33 instead of 92,
    silently). Published weights are numbered by the shipped lists the readers use already."""
    own = getattr(model, "zoo_classes", None)
    if not own or not dataset.classes or current_weights(model) == "published":
        return
    what = "its manifest" if hasattr(model, "artifact") else "the classes.txt beside its checkpoint"
    if len(own) != len(dataset.classes):
        raise ValueError(f"{entry.name} outputs {len(own)} classes ({what} names {', '.join(own[:5])}"
                         f"{', ...' if len(own) > 5 else ''}) but the class list has {len(dataset.classes)}: is this "
                         "the model trained on these classes? Test videos of some of its classes: pass its whole list "
                         "(--classes FILE, one name per line in output order: the run's classes.txt)")
    mine, given = [normalize_name(c) for c in own], [normalize_name(c) for c in dataset.classes]
    if mine != given:
        index = next(i for i, (a, b) in enumerate(zip(mine, given)) if a != b)
        how = "the same names in another order" if sorted(mine) == sorted(given) else "other names"
        raise ValueError(f"the class list is not {entry.name}'s own ({what}): {how}, first at index {index}: "
                         f"{dataset.classes[index]!r} where the model outputs {own[index]!r}; pass its own list "
                         "(--classes) so that each label is scored against its output")


def stop_decoding(items: Iterator) -> None:
    """Stop the decoding behind ``items`` from :func:`decoded_videos` now, not when garbage is
    collected: its DataLoader workers, or its prefetch thread. Safe to call again."""
    stop = getattr(items, "_shutdown_workers", None) or getattr(items, "close", None)
    if stop is not None:
        stop()


def _score_share(model, items: Iterator, todo, spec, dataset, entry, scores_path, failures_path, *, batch_size,
                 device, bar, tick, failed_label="failed") -> dict:
    """Score ``todo`` (this rank's videos) from ``items`` (:func:`decoded_videos`): one line per
    video appended to ``scores_path``."""
    multilabel = dataset.multilabel
    expected_classes = dataset.num_classes or dataset.meta.get("num_classes")
    decode_s = model_s = 0.0
    scored = failed = 0
    start = time.perf_counter()
    # (time, videos scored) after the first write that scored any, and after the latest: with
    # views of several videos in one pass, videos finish several at a time
    first_scored: tuple[float, int] | None = None
    last_scored: tuple[float, int] | None = None
    with open(failures_path, "w") as failures_file:
        if not todo:
            return {"scored": 0, "failed": 0, "decode_s": 0.0, "model_s": 0.0, "first_video_s": None,
                    "steady_videos": 0, "steady_s": None, "file": scores_path.name,
                    "bytes": shards.file_size(scores_path)}
        activation = scoring.output_activation(model)
        scorer = scoring.view_scorer(model, activation=activation, multilabel=multilabel, device=device)

        def timed(views):
            nonlocal model_s
            t0 = time.perf_counter()
            try:
                return scorer(views)
            finally:
                model_s += time.perf_counter() - t0

        # batch_size views per forward pass, filled across videos (None: each video's views at once)
        batcher = ViewBatcher(timed, batch_size)

        def write_scores(finished) -> None:
            nonlocal scored, first_scored, last_scored
            for index, view_rows in finished:
                record = todo[index]
                scores = scoring.aggregate(view_rows, multilabel)
                if expected_classes and scores.shape[0] != expected_classes:
                    raise ValueError(
                        f"{entry.name} outputs {scores.shape[0]} classes but the dataset has "
                        f"{expected_classes}; pass the checkpoint's class list (--classes)"
                    )
                label = list(record.label) if isinstance(record.label, tuple) else record.label
                line = {"key": record.key, "label": label, "views": view_rows.shape[0], "scores": scores.tolist()}
                scores_file.write(json.dumps(line) + "\n")
                scores_file.flush()  # a kill loses at most the videos in flight
                scored += 1
                bar.update(1)
            if finished:
                last_scored = (time.perf_counter(), scored)
                first_scored = first_scored or last_scored

        with open(scores_path, "a") as scores_file, contextlib.ExitStack() as stopping:
            stopping.callback(stop_decoding, items)  # at once on failure: this rank may wait a long time for the others
            for item in items:
                record = todo[item["index"]]
                if "error" in item:
                    failure = {"key": record.key, "path": record.path, "reason": item["error"]}
                    failed += 1
                    failures_file.write(json.dumps(failure) + "\n")
                    failures_file.flush()
                    bar.update(1)
                else:
                    decode_s += item["decode_s"]
                    if "lease" in item:  # the worker may build into this memory again once it is freed
                        release_when_freed(item["views"], item["lease"])
                    write_scores(batcher.add(item["index"], item["views"]))
                tick()
                if failed_label:
                    bar.set_postfix({failed_label: failed})
            write_scores(batcher.flush())
    return {"scored": scored, "failed": failed, "decode_s": decode_s, "model_s": model_s,
            "first_video_s": first_scored[0] - start if first_scored else None,
            # videos scored after the first ones, and in how long
            "steady_videos": last_scored[1] - first_scored[1] if first_scored else 0,
            "steady_s": last_scored[0] - first_scored[0] if first_scored else None,
            "file": scores_path.name, "bytes": shards.file_size(scores_path)}


def check_scored_labels(finished: dict[str, dict], records, out_dir) -> None:
    """Refuse a resume whose videos were scored under other labels than this run gives them: a
    folder of an earlier version, which indexed another class list, or a class list or annotation
    file changed where ``config.json`` did not record it. The metrics take every label from the
    score files, so a mix of two numberings would be counted without a word.

    Example:
        >>> from benchmarks.datasets import VideoRecord
        >>> check_scored_labels({"a": {"label": 3}}, [VideoRecord("a", "a.mp4", 3)], "runs/x")
        >>> check_scored_labels({"a": {"label": 3}}, [VideoRecord("a", "a.mp4", 167)], "runs/x")
        Traceback (most recent call last):
        ...
        ValueError: runs/x holds videos scored under other labels than this run's (a: 3 before, 167 now; 1 of 1 scored videos): the class list or the annotations changed; use another --out
    """
    changed = []
    for record in records:
        line = finished.get(record.key)
        label = list(record.label) if isinstance(record.label, tuple) else record.label
        if line is not None and line.get("label", label) != label:
            changed.append((record.key, line["label"], label))
    if changed:
        key, before, now = changed[0]
        raise ValueError(f"{out_dir} holds videos scored under other labels than this run's ({key}: {before} before, "
                         f"{now} now; {len(changed)} of {len(finished)} scored videos): the class list or the "
                         "annotations changed; use another --out")


def merge_results(out_dir, *, timing: dict | None = None, keys: list[str] | None = None, metric: str | None = None,
                  published: dict | None = None, entry=None, annotated: int | None = None) -> dict:
    """The evaluation's result from every score and failure file in ``out_dir``, whichever
    process or world size wrote them; writes ``metrics.json`` and leaves one ``scores.jsonl``
    and one ``failures.jsonl``.

    Videos are taken in annotation order (``keys``, default: the folder's ``records.json``)
    and a video found in two files counts once, so the metrics are bit for bit those of a
    single-process run. The score files become the one ``scores.jsonl`` in that order, each
    video once (:func:`benchmarks.runtime.shards.consolidate_results`: written, then the rank
    files deleted, so a kill at any step loses no scored video); the failures likewise.
    Model, views and dataset come from ``config.json`` (``entry``: the model's
    :class:`zoo.ZooEntry`, default the one ``config.json`` names). ``published``: the figures
    set beside the result (default :func:`published_on`), none when the scores are of other
    classes than the entry's (a fine-tuned model's). Run it (``zoo merge``) only when no
    evaluation is writing to the folder: the rank files it deletes are the running ranks'.
    ``annotated``: the videos of the annotation file, when the run took only its first ones
    (``--limit``; default: what the folder's last result said), recorded so that a partial
    result is not read as the whole set's. ``timing``: this run's (``{"merged": true}`` without one: ``zoo merge``); when it scored
    nothing (a merge, a finished folder run again), the timing of the last run that did is kept
    under ``"last_scoring_run"``.
    """
    import zoo

    out_dir = Path(out_dir)
    config_path = out_dir / CONFIG_FILE
    if not out_dir.is_dir():
        raise FileNotFoundError(f"{out_dir}: no such folder")
    if not config_path.exists():
        raise FileNotFoundError(f"{out_dir} holds no evaluation ({CONFIG_FILE} is missing)")
    config = json.loads(config_path.read_text())
    entry = entry if entry is not None else zoo.get_entry(config["model"])
    if keys is None or metric is None:
        manifest_path = out_dir / RECORDS_FILE
        if not manifest_path.exists():
            raise FileNotFoundError(f"{manifest_path} is missing: it lists the evaluated videos in order; "
                                    "rerun the evaluation command once to write it")
        manifest = json.loads(manifest_path.read_text())
        keys = manifest["keys"] if keys is None else keys
        metric = manifest["metric"] if metric is None else metric
    # every score file (this run's ranks, earlier runs of any world size) into the one
    # scores.jsonl, in annotation order, before the rank files go (kill-safe: see consolidate_results)
    finished = shards.consolidate_results(out_dir, SCORES_FILE, keys)
    failed_lines = shards.read_results(out_dir, FAILURES_FILE)
    done = [finished[k] for k in keys if k in finished]
    failures = [failed_lines[k] for k in keys if k in failed_lines and k not in finished]
    if done:
        score_matrix = np.array([d["scores"] for d in done], dtype=np.float64)
        values = metrics_lib.compute(metric, score_matrix, [d["label"] for d in done])
    else:
        values = {}
    if published is None:
        published = published_on(entry, config["dataset"])
    if done and score_matrix.shape[1] != entry.num_classes:
        # the model scores other classes than the entry's (a fine-tuned checkpoint or its exported
        # file, measured with its --classes): the entry's published figures are not of these classes
        published = {}
    failures_path = out_dir / FAILURES_FILE
    atomic_write(failures_path, "".join(json.dumps(f) + "\n" for f in failures))
    remove = [p for p in shards.result_files(out_dir, FAILURES_FILE) if p != failures_path]
    for path in remove:  # merged into failures.jsonl
        path.unlink(missing_ok=True)
    result = {
        "model": config["model"],
        "dataset": config["dataset"],
        "views": config["views"],
        "protocol_of": config.get("protocol_of", config["model"]),
        "metrics": values,
        "published": published,
        "videos": len(done),
        "failed": len(failures),
        "total": len(keys),
        "failures_file": str(failures_path) if failures else None,
        "timing": _with_last_scoring_run(out_dir, timing if timing is not None else {"merged": True}),
    }
    annotated = annotated if annotated is not None else _earlier(out_dir).get("annotated")
    if annotated is not None and annotated > len(keys):  # --limit: the first of the file's videos only
        result["annotated"] = annotated
    write_json_atomic(out_dir / METRICS_FILE, result)
    return result


def _with_last_scoring_run(out_dir: Path, timing: dict) -> dict:
    """``timing``, and when this run scored nothing, the last scoring run's from the folder's
    ``metrics.json``: a merge or a rerun of a finished folder does not erase the measured throughput."""
    if timing.get("videos_this_run"):
        return timing
    earlier = _earlier(out_dir).get("timing") or {}
    last = earlier if earlier.get("videos_this_run") else earlier.get("last_scoring_run")
    return {**timing, "last_scoring_run": last} if last else timing


def _earlier(out_dir: Path) -> dict:
    """The folder's last result (``metrics.json``), or ``{}``."""
    try:
        earlier = json.loads((Path(out_dir) / METRICS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return earlier if isinstance(earlier, dict) else {}


def summary_line(result: dict) -> str:
    """One line: model, views, metrics beside the published ones, videos, failures."""
    parts = []
    for name, value in result["metrics"].items():
        if name.startswith("top") or name == "map":
            published = result["published"].get(name)
            parts.append(f"{name} {value:.2f}" + (f" (published {published:.2f})" if published is not None else ""))
    text = f"{result['model']} on {result['dataset']}, {result['views']} views: "
    text += (", ".join(parts) + f" over {result['videos']}/{result['total']} videos" if parts
             else f"no metrics: 0 of {result['total']} videos scored")
    if result.get("annotated"):
        text += f" (the first {result['total']} of the annotation file's {result['annotated']}: --limit)"
    if result["failed"]:
        text += f"; {result['failed']} failed (listed in {result['failures_file']})"
    left = result["total"] - result["videos"] - result["failed"]
    if left > 0:  # an interrupted run, merged: its metrics are of the videos scored so far
        text += f"; INCOMPLETE: {left} not scored yet (run the evaluation again with this --out: it resumes)"
    timing = result.get("timing") or {}
    if timing.get("videos_this_run"):
        n = timing["videos_this_run"]
        # decoding overlaps the model (workers, or the prefetch thread): the two can add up to more than the wall time
        steady = timing.get("steady_videos_per_s")
        text += (f"; this run {n / timing['wall_s']:.2f} videos/s"
                 + (f" ({steady:.2f} after the first video, which took {timing['first_video_s']:.1f} s)" if steady else "")
                 + f", per video decode+views {timing['decode_s'] / n:.2f} s, "
                 f"model {timing['model_s'] / n:.2f} s ({timing['workers']} worker{'' if timing['workers'] == 1 else 's'})")
    return text
