"""AVA v2.2 action detection: run a detector on every keyframe, write its detections, score frame mAP.

Data flow: predicted person boxes (score ``>=`` the entry's threshold) -> one
:class:`~zoo.input.keyframes.KeyframeRecord` per keyframe -> (DataLoader workers, one video
each at a time, read once) the keyframe's clip and boxes (:mod:`zoo.input.keyframes`) -> the
model, ``batch_size`` keyframes per forward -> for each box, one row per evaluated class
(the label map's 60 of the model's 80) appended to ``<out>/detections.csv`` in the official
format ``video,timestamp,x1,y1,x2,y2,action,score`` (boxes as given, normalised) -> frame mAP
(:func:`benchmarks.metrics.frame_map`) against the annotations, excluded timestamps dropped
(``map``: a frame's boxes matched in row order, as the official evaluator does, which our
rows make its figure exactly; ``map_by_score``: matched by score, for comparison)
-> ``<out>/metrics.json`` (atomic; mAP, per-class AP, coverage, timing) -> optionally the
tables (``tables_dir``), whose AVA table then shows the reproduced column.

Resuming: each keyframe's rows are appended in one write and flushed, then its key and the
file offset after them go to ``<out>/keyframes_done.csv``. A rerun truncates
``detections.csv`` back to the last recorded offset (dropping the rows of a keyframe cut
short by a kill) and skips the finished keyframes, so no keyframe is ever scored twice.
``config.json`` refuses a rerun with another model, boxes or protocol.

Failures (a missing video or frame folder, an unreadable or truncated file) are per video:
``<out>/failures.jsonl`` names the video, the path and the reason; its keyframes are not
scored, and the video is left out of the metric (ground truth included), as failed videos
are left out of the classification metrics. Coverage is in ``metrics.json``.

Many processes, GPUs, machines (``torchrun``, :mod:`benchmarks.runtime.shards`): the unfinished
keyframes are sharded by video (all keyframes of a video on one rank, so each video is still
decoded once; balanced by keyframe count), and rank K of W writes its own
``detections.rank-K-of-W.csv``, ``keyframes_done.rank-K-of-W.csv`` and
``failures.rank-K-of-W.jsonl`` (no two ranks ever write one file). Rank 0 then moves the
rank files' keyframes into ``detections.csv`` (:func:`consolidate`: rows, then done lines,
then the rank files are deleted, so a kill there loses nothing), merges the failures and
scores (:func:`merge_ava`, also ``zoo merge --out``). A run, or a resume with any world size,
first consolidates whatever rank files earlier runs left (a keyframe done in any file is not
redone; the rows of a half-written one are dropped). The detections are scored in keyframe
order, so the metrics are exactly those of a one-process run, each keyframe's rows identical.
``records.json`` lists the keyframes and input files for the offline merge.

Example (Python API):
    >>> from benchmarks.ava.evaluate import evaluate_ava
    >>> # result = evaluate_ava("slowfast_r50_8x8_ava", "runs/ava_sf", annotations="ava/ava_val_v2.2.csv",
    >>> #     boxes="ava/ava_detection_val_boxes_and_labels.csv", video_root="ava/frames",
    >>> #     label_map="ava/ava_action_list_v2.2_for_activitynet_2019.pbtxt",
    >>> #     excluded="ava/ava_val_excluded_timestamps_v2.2.csv", pretrained=True)
    >>> # result["metrics"]["map"]

Command line:
    $ zoo evaluate slowfast_r50_8x8_ava --dataset ava --annotations ava/ava_val_v2.2.csv \\
          --boxes ava/ava_detection_val_boxes_and_labels.csv --video-root ava/frames \\
          --label-map ava/ava_action_list_v2.2_for_activitynet_2019.pbtxt \\
          --excluded ava/ava_val_excluded_timestamps_v2.2.csv --pretrained --tables results
    $ torchrun --standalone --nproc-per-node 8 -m benchmarks.cli evaluate slowfast_r50_8x8_ava \\
          --dataset ava ... --out runs/sf_ava   # 8 GPUs; zoo merge --out runs/sf_ava redoes the merge
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from benchmarks.ava import annotations as ava
from benchmarks.datasets import AnnotationError
from benchmarks.run_config import (
    CONFIG_FILE,
    FAILURES_FILE,
    METRICS_FILE,
    RECORDS_FILE,
    DataFiles,
    RunConfig,
    Weights,
    absolute,
    check_config,
    check_same_job,
)
from benchmarks.runtime import shards
from benchmarks.runtime.files import atomic_write, write_json_atomic
from benchmarks.runtime.workers import as_is, decoding_worker_init
from zoo.checkpoints import sha256_of
from zoo.input.keyframes import AvaProtocol, KeyframeClips, KeyframeRecord, keyframe_records
from zoo.registry import get_entry
from zoo.scoring import keyframe_scores, output_activation

# A run folder has the classification runs' layout (config, failures, metrics, records: the
# keyframes in order and the input files, what `zoo merge` needs besides the result files)
# plus the detections and the finished-keyframe offsets.

DETECTIONS_FILE = "detections.csv"
DONE_FILE = "keyframes_done.csv"


# --------------------------------------------------------------------------- results files


def read_done(out_dir, repair: bool = True) -> dict[str, int]:
    """Finished keyframes: ``"video,second"`` -> offset in ``detections.csv`` after its rows.

    A last line cut short by a kill is dropped; with ``repair`` the done file is truncated to
    its last complete line and ``detections.csv`` to the last finished keyframe's offset, so
    rows of a keyframe in flight at the kill are removed before anything is appended.
    """
    out_dir = Path(out_dir)
    return {key: end for key, _, end in read_done_file(out_dir / DONE_FILE, out_dir / DETECTIONS_FILE, repair)}


def read_done_file(done_path, detections_path, repair: bool = True) -> list[tuple[str, int, int]]:
    """``(key, start, end)`` of each finished keyframe of one done file: its rows are bytes
    ``start:end`` of ``detections_path`` (each keyframe's rows follow the previous one's).
    ``repair`` as :func:`read_done`."""
    done_path, detections_path = Path(done_path), Path(detections_path)
    data = done_path.read_bytes() if done_path.exists() else b""
    *complete, partial = data.split(b"\n")
    entries: list[tuple[str, int, int]] = []
    end = 0
    for number, raw in enumerate(complete, 1):
        try:
            video, second, offset = raw.decode().rsplit(",", 2)
            key, start, end = f"{video},{int(second):04d}", end, int(offset)
        except ValueError:
            raise ValueError(f"{done_path}:{number}: not a 'video,second,offset' line; the results are damaged") from None
        entries.append((key, start, end))
    if repair:
        if partial:
            with open(done_path, "r+b") as f:
                f.truncate(len(data) - len(partial))
        if detections_path.exists() and detections_path.stat().st_size > end:
            with open(detections_path, "r+b") as f:
                f.truncate(end)
    return entries


def _rank_detections_name(done_name: str) -> str:
    """``keyframes_done.rank-1-of-2.csv`` -> ``detections.rank-1-of-2.csv`` (the rows it points into)."""
    return DETECTIONS_FILE.partition(".")[0] + done_name[len(DONE_FILE.partition(".")[0]):]


def consolidate(out_dir) -> int:
    """Move every rank file's finished keyframes into ``detections.csv``/``keyframes_done.csv``.

    Rank files of any world size (``detections.rank-K-of-W.csv`` with its
    ``keyframes_done.rank-K-of-W.csv``) are read in :func:`benchmarks.runtime.shards.result_files`
    order; a keyframe already in ``detections.csv`` or in an earlier file is skipped, rows
    after a file's last done line (a keyframe cut short by a kill) are dropped. The rows are
    appended as a one-process run appends them (rows, then their done lines), so a kill here
    loses nothing: the rank files are deleted only afterwards (done files first), and the next
    run repeats the step. Returns the number of keyframes moved.
    """
    out_dir = Path(out_dir)
    base_detections, base_done = out_dir / DETECTIONS_FILE, out_dir / DONE_FILE
    rank_done = [p for p in shards.result_files(out_dir, DONE_FILE) if p.name != DONE_FILE]
    rank_detections = [p for p in shards.result_files(out_dir, DETECTIONS_FILE) if p.name != DETECTIONS_FILE]
    if not rank_done and not rank_detections:
        return 0
    seen = set(read_done(out_dir, repair=True))
    end = shards.file_size(base_detections)
    moved = 0
    with open(base_detections, "ab") as det_out, open(base_done, "ab") as done_out:
        for done_path in rank_done:
            detections_path = done_path.with_name(_rank_detections_name(done_path.name))
            if not detections_path.exists():
                continue
            entries = read_done_file(done_path, detections_path, repair=False)
            size = detections_path.stat().st_size
            lines = []
            with open(detections_path, "rb") as source:
                for key, start, stop in entries:
                    if key in seen or stop > size:
                        continue
                    seen.add(key)
                    source.seek(start)
                    det_out.write(source.read(stop - start))
                    end += stop - start
                    lines.append(f"{key},{end}\n")
                    moved += 1
            det_out.flush()
            os.fsync(det_out.fileno())
            done_out.write("".join(lines).encode())  # after the rows they point to
            done_out.flush()
            os.fsync(done_out.fileno())
    for path in rank_done + rank_detections:  # done files first: a lone rows file counts for nothing
        path.unlink(missing_ok=True)
    return moved


def detection_rows(record: KeyframeRecord, scores: torch.Tensor, class_ids: list[int]) -> str:
    """The official CSV rows of one keyframe: each box x each evaluated class (ids are 1-based)."""
    lines = []
    columns = [c - 1 for c in class_ids]
    for box, row in zip(record.boxes, scores[:, columns].tolist()):
        prefix = f"{record.video},{record.second:04d},{box.x1:.6g},{box.y1:.6g},{box.x2:.6g},{box.y2:.6g}"
        lines += [f"{prefix},{c},{s:.6g}\n" for c, s in zip(class_ids, row)]
    return "".join(lines)


# --------------------------------------------------------------------------- evaluation


def _default_file(given, beside, name: str | None, what: str, flag: str, required: bool):
    """``given``, else the catalogue's file name beside the annotations, else an error or None."""
    if given:
        return str(given)
    candidate = Path(beside).parent / name if name else None
    if candidate is not None and candidate.exists():
        return str(candidate)
    if required:
        raise FileNotFoundError(f"no {what}: pass {flag} (the official file is {name}; not found beside {beside})")
    return None


def evaluate_ava(
    entry_or_name,
    out_dir,
    *,
    annotations,
    boxes,
    video_root,
    label_map=None,
    excluded=None,
    model: nn.Module | None = None,
    model_factory: Callable | None = None,
    pretrained: bool = False,
    checkpoint=None,
    batch_size: int = 1,
    workers: int = 0,
    limit: int | None = None,
    device: str = "cpu",
    progress: bool = True,
    tables_dir=None,
    log: Callable[[str], None] | None = print,
    distributed: bool | None = None,
    **protocol_overrides,
) -> dict:
    """Evaluate an AVA entry on keyframes of ``boxes``; results in ``out_dir`` (see the module docstring).

    The keyword form of :func:`run_ava_evaluation`: the files are
    :class:`~benchmarks.run_config.DataFiles`' (``annotations``: the ground truth CSV;
    ``boxes``: the predicted person boxes CSV; ``video_root``: frame folders ``<video>/`` or
    videos ``<video>.<ext>``), ``tables_dir`` is ``RunConfig.tables``, and
    ``protocol_overrides`` are :class:`~zoo.input.keyframes.AvaProtocol` fields (tests,
    studies of the protocol).
    """
    data = DataFiles(annotations=str(annotations), video_root=str(video_root), dataset="ava", boxes=str(boxes),
                     label_map=label_map, excluded=excluded)
    config = RunConfig(entry_or_name, data=data, weights=Weights(pretrained, checkpoint), batch_size=batch_size,
                       workers=workers, device=device, limit=limit, out=str(out_dir),
                       tables=str(tables_dir) if tables_dir is not None else None)
    return run_ava_evaluation(config, model=model, model_factory=model_factory, progress=progress, log=log,
                              distributed=distributed, protocol_overrides=protocol_overrides)


def run_ava_evaluation(
    config: RunConfig,
    *,
    model: nn.Module | None = None,
    model_factory: Callable | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    distributed: bool | None = None,
    protocol_overrides: dict | None = None,
) -> dict:
    """Evaluate the AVA entry ``config.entry`` as ``config`` says; results in its run folder.

    ``config.data``: ``annotations`` (ground truth CSV), ``boxes`` (predicted person boxes
    CSV), ``video_root`` (frame folders ``<video>/`` or videos ``<video>.<ext>``);
    ``label_map`` and ``excluded`` default to the catalogue's file names beside the annotations
    (the label map is required). ``config.batch_size``: keyframes per forward pass (default 1);
    ``config.limit``: the first N keyframes; ``config.box_threshold`` and
    ``protocol_overrides``: :class:`~zoo.input.keyframes.AvaProtocol` fields.
    ``config.tables``: regenerate the tables there afterwards (rank 0). The model is
    ``model``, else ``model_factory(entry)``, else built from ``config.weights``.
    ``distributed``: ``None`` shards the videos over the ranks when started by torchrun
    (device ``cuda:LOCAL_RANK`` for a GPU device), ``False`` never does.

    Returns the content of ``metrics.json`` (on every rank).
    """
    data = config.data
    annotations, boxes, video_root = data.annotations, data.boxes, data.video_root
    batch_size, workers, limit, device = config.batch_size or 1, config.workers, config.limit, config.device
    protocol_overrides = dict(protocol_overrides or {})
    if config.box_threshold is not None:
        protocol_overrides["box_threshold"] = config.box_threshold
    entry_or_name = config.entry
    entry = get_entry(entry_or_name) if isinstance(entry_or_name, str) else entry_or_name
    if entry.dataset != "ava":
        raise ValueError(f"{entry.name} is a {entry.dataset} entry, not an AVA detector")
    protocol = AvaProtocol.from_entry(entry, **protocol_overrides)
    extra = entry.extra
    label_map = _default_file(data.label_map, annotations, extra.get("ava_label_map"), "label map", "--label-map", True)
    excluded = _default_file(data.excluded, annotations, extra.get("ava_excluded"), "excluded timestamps", "--excluded", False)
    classes = ava.read_label_map(label_map)
    class_ids = sorted(classes)
    person_boxes = ava.read_person_boxes(boxes, protocol.box_threshold, protocol.keyframe_seconds)
    records = keyframe_records(person_boxes, protocol)
    if not records:  # an evaluation of nothing would report mAP 0 over 0 keyframes as a result
        seconds = protocol.keyframe_seconds
        raise AnnotationError(boxes, None, f"no person box with score >= {protocol.box_threshold} at a keyframe "
                                  f"(seconds {seconds.start}..{seconds.stop - 1} of the movie, as AVA's files count "
                                  "them): nothing to evaluate")
    with_keyframes = {r.video for r in records}  # before ``limit``: videos with nothing to run are misses
    if limit:
        records = records[:limit]

    out_dir = config.out_dir(entry.name, ava=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    ranks = shards.join(distributed, device)
    device = ranks.device(device)
    job = {
        "model": entry.name,
        "dataset": "ava",
        "annotations": absolute(annotations),
        "boxes": absolute(boxes),
        "label_map": absolute(label_map),
        "protocol": asdict(protocol),
        "weights": config.weights.record(model=model, model_factory=model_factory),
        # the same paths with other content (an edited box file, frames instead of videos) are another
        # evaluation: compared where both runs know them (run_config.ADDED_FIELDS)
        "annotations_sha256": sha256_of(annotations),
        "boxes_sha256": sha256_of(boxes),
        "video_root": absolute(video_root),
    }
    job = json.loads(json.dumps(job))  # tuples as lists, as read back
    keys = [r.key for r in records]
    manifest = {"keys": keys, "videos_with_keyframes": sorted(with_keyframes),
                "files": {"annotations": str(annotations), "boxes": str(boxes), "label_map": str(label_map),
                          "excluded": str(excluded) if excluded else None}}

    def prepare():  # rank 0 only, before any rank writes
        check_config(out_dir, job)
        write_json_atomic(out_dir / RECORDS_FILE, manifest)
        consolidate(out_dir)  # earlier runs' rank files (any world size) into detections.csv

    started = time.perf_counter()
    # all keyframes of a video on one rank (each video decoded once), balanced by keyframe count
    plan = shards.plan(ranks, out_dir, keys, results=DONE_FILE, failures=FAILURES_FILE, prepare=prepare,
                       read=lambda: read_done(out_dir), group=lambda i: records[i].video, weight=lambda i: 1.0)
    todo = [records[i] for i in plan.mine]

    def build():
        check_same_job(ranks, out_dir, job, keys, "keyframes", "boxes, --limit")
        if not todo:
            return None
        return (model if model is not None else (model_factory or config.weights.model_factory())(entry)).eval().to(device)

    # every rank takes part in every step, even with nothing to do (see benchmarks.runtime.shards)
    model = ranks.in_waves(build)
    bar, tick = shards.run_progress(ranks, plan, out_dir, entry.name, "keyframe", [DONE_FILE],
                                    show=progress and ranks.is_main)
    with bar:
        stats = ranks.agree(
            lambda: _detect_share(model, todo, video_root, protocol, entry, class_ids, label_map, out_dir, ranks,
                                  batch_size=batch_size, workers=workers, device=device, bar=bar, tick=tick),
            waiting=tick,
        )
        tick(force=True)  # the other ranks' last keyframes
    everyone = ranks.gather(stats)
    written = {name: size for s in everyone for name, size in s["files"].items()}
    wall_s = time.perf_counter() - started
    scored = sum(s["scored"] for s in everyone)
    timing = {
        "keyframes_this_run": scored,
        "wall_s": wall_s,
        "keyframes_per_s": scored / wall_s if scored and wall_s > 0 else None,
        "decode_s": sum(s["decode_s"] for s in everyone),
        "model_s": sum(s["model_s"] for s in everyone),
        "workers": workers,
        "batch_size": batch_size,
        "ranks": ranks.world_size,
        "keyframes_per_rank": [s["scored"] for s in everyone],
    }

    def merge():
        shards.wait_visible(out_dir, written)  # the other machines' files, on a network file system
        return merge_ava(out_dir, timing=timing, entry=entry)

    result = ranks.on_main(merge)
    if ranks.is_main:
        if config.tables is not None:
            from benchmarks.tables import write_tables

            write_tables(config.tables, progress=False, command=f"zoo evaluate {entry.name} --dataset ava")
        if log is not None:
            log(summary_line(result))
    return result


def _detect_share(model, todo: list[KeyframeRecord], video_root, protocol: AvaProtocol, entry, class_ids, label_map,
                  out_dir: Path, ranks, *, batch_size, workers, device, bar, tick) -> dict:
    """Run ``todo`` (this rank's keyframes, whole videos): rows and done lines appended to this
    rank's files (``detections.csv`` itself in one process), failed videos to its failures file."""
    names = {base: ranks.file_name(base) for base in (DETECTIONS_FILE, DONE_FILE, FAILURES_FILE)}
    # one process appends to what it resumes; a rank starts its files afresh (earlier ones were consolidated)
    mode = "w" if ranks.distributed else "a"
    stats = {"scored": 0, "failed": 0, "decode_s": 0.0, "model_s": 0.0}
    with open(out_dir / names[FAILURES_FILE], "w") as failures_file, \
            open(out_dir / names[DETECTIONS_FILE], mode) as det_file, open(out_dir / names[DONE_FILE], mode) as done_file:
        if todo:
            activation = output_activation(model)
            loader = torch.utils.data.DataLoader(
                KeyframeClips(todo, video_root, protocol),
                batch_size=None,
                num_workers=workers,
                collate_fn=as_is,
                worker_init_fn=decoding_worker_init if workers else None,
                prefetch_factor=4 if workers else None,
            )
            with torch.inference_mode():

                def flush(batch: list[dict]) -> None:
                    if not batch:
                        return
                    t0 = time.perf_counter()
                    scores = keyframe_scores(model, batch, protocol, activation, device)
                    stats["model_s"] += time.perf_counter() - t0
                    for item, box_scores in zip(batch, scores):
                        if box_scores.shape[1] < class_ids[-1]:
                            raise ValueError(f"{entry.name} outputs {box_scores.shape[1]} classes; the label map "
                                             f"{label_map} asks for class {class_ids[-1]}")
                        record = todo[item["index"]]
                        det_file.write(detection_rows(record, box_scores, class_ids))
                        det_file.flush()
                        # the done line follows the rows: a kill between the two only loses this keyframe
                        done_file.write(f"{record.key},{det_file.tell()}\n")
                        done_file.flush()
                        stats["scored"] += 1
                    bar.update(len(batch))
                    tick()
                    batch.clear()

                batch: list[dict] = []
                for item in loader:
                    if "error" in item:
                        failure = {"video": item["video"], "path": item["path"], "reason": item["error"],
                                   "keyframes": len(item["indices"])}
                        stats["failed"] += 1
                        failures_file.write(json.dumps(failure) + "\n")
                        failures_file.flush()
                        bar.update(len(item["indices"]))
                        bar.set_postfix(failed_videos=stats["failed"])
                        continue
                    stats["decode_s"] += item["decode_s"]
                    if batch and tuple(batch[0]["clip"].shape) != tuple(item["clip"].shape):
                        flush(batch)
                    batch.append(item)
                    if len(batch) >= batch_size:
                        flush(batch)
                flush(batch)
    stats["files"] = {name: shards.file_size(out_dir / name) for name in names.values()}
    return stats


def merge_ava(out_dir, *, timing: dict | None = None, entry=None) -> dict:
    """An AVA run's result from every result file in ``out_dir``, whichever process or world
    size wrote them (what rank 0 does at the end, and ``zoo merge``): the rank files are
    consolidated into ``detections.csv`` (:func:`consolidate`), the failure lists into one
    ``failures.jsonl``, and frame mAP is scored; writes and returns ``metrics.json``.

    The keyframes, their order and the input files come from ``records.json`` and
    ``config.json``; the detections are scored in keyframe order whatever order the files
    hold them in, so the metrics are exactly those of a one-process run.
    """
    import zoo

    out_dir = Path(out_dir)
    for name in (CONFIG_FILE, RECORDS_FILE):
        if not (out_dir / name).exists():
            raise FileNotFoundError(f"{out_dir / name} is missing: rerun the zoo evaluate command once to write it")
    config = json.loads((out_dir / CONFIG_FILE).read_text())
    manifest = json.loads((out_dir / RECORDS_FILE).read_text())
    entry = entry if entry is not None else zoo.get_entry(config["model"])
    consolidate(out_dir)
    failed_lines = shards.read_results(out_dir, FAILURES_FILE, key="video")
    failures = list(failed_lines.values())
    failures_path = out_dir / FAILURES_FILE
    atomic_write(failures_path, "".join(json.dumps(f) + "\n" for f in failures))
    for path in shards.result_files(out_dir, FAILURES_FILE):
        if path != failures_path:  # merged into failures.jsonl
            path.unlink(missing_ok=True)
    files = manifest["files"]
    classes = ava.read_label_map(config["label_map"])
    result = score_detections(entry, out_dir, manifest["keys"], config["annotations"], classes, files["excluded"],
                              failures, set(manifest["videos_with_keyframes"]))
    result["timing"] = timing if timing is not None else {"merged": True}
    result["failures_file"] = str(failures_path) if failures else None
    result["protocol"] = config["protocol"]
    result["files"] = files
    write_json_atomic(out_dir / METRICS_FILE, result)
    return result


def score_detections(entry, out_dir, keys: list[str], annotations, classes: dict[int, str], excluded,
                     failures: list[dict], with_keyframes: set[str]) -> dict:
    """Frame mAP of ``out_dir/detections.csv`` over the videos whose keyframes (``keys``,
    ``"video,second"``) all finished.

    Annotated videos without any keyframe to run (no person box above the threshold:
    not in ``with_keyframes``) count too: their ground truth is all missed, as in the reference.
    """
    from benchmarks.metrics import frame_map

    import numpy as np

    out_dir = Path(out_dir)
    done = read_done(out_dir, repair=False)
    key_videos = [key.rsplit(",", 1)[0] for key in keys]
    videos = sorted(set(key_videos))
    finished = set(videos) - {v for v, key in zip(key_videos, keys) if key not in done}
    class_ids = set(classes)
    truth = ava.read_annotations(annotations, class_ids)
    finished |= {row[0][0] for row in truth} - set(with_keyframes)
    truth = [row for row in truth if row[0][0] in finished]
    # frames as integers (video number * 10000 + second): millions of detection rows stay arrays
    number = {video: i for i, video in enumerate(sorted(finished))}
    frame = lambda video, second: number[video] * 10000 + second  # noqa: E731
    truth_columns = {"key": np.array([frame(*row[0]) for row in truth], dtype=np.int64),
                     "boxes": np.array([row[1:5] for row in truth], dtype=np.float64).reshape(-1, 4),
                     "classes": np.array([row[5] for row in truth], dtype=np.int64)}
    path = out_dir / DETECTIONS_FILE
    if path.exists():
        found = ava.read_detection_columns(path)
        keep = np.isin(found["video"], list(finished)) if finished else np.zeros(len(found["video"]), dtype=bool)
        frames = np.array([number[v] for v in found["video"][keep]], dtype=np.int64) * 10000 + found["second"][keep]
        # keyframe order (video, second), each keyframe's rows in their own order: tied scores are
        # ranked by row order, so a resumed or merged file scores exactly as a one-process run's
        order = np.argsort(frames, kind="stable")
        detections = {"key": frames[order], "boxes": found["boxes"][keep][order],
                      "classes": found["classes"][keep][order], "scores": found["scores"][keep][order]}
    else:
        detections = []
    skipped = ava.read_excluded(excluded)
    skipped_frames = {frame(v, s) for v, s in skipped if v in number}
    threshold = entry.extra.get("ava_iou_threshold", 0.5)
    # The official evaluator (ava_evaluation/per_image_evaluation.py) matches a frame's boxes in
    # row order, not by score; our rows keep the box file's order, as the reference's do, so
    # ``map`` is the official figure exactly -- the one the published number was computed with.
    values = frame_map(truth_columns, detections, class_ids, excluded=skipped_frames, iou_threshold=threshold,
                       match_order="input")
    by_score = frame_map(truth_columns, detections, class_ids, excluded=skipped_frames, iou_threshold=threshold)
    per_class = {f"{c} {classes[c]}": ap for c, ap in values.pop("per_class_ap").items()}
    metrics = {"map": values["map"], "map_by_score": by_score["map"]} if finished else {}
    return {
        "model": entry.name,
        "dataset": "ava",
        "views": "1x1",
        "metrics": metrics,
        "per_class_ap": per_class,
        "map_classes": values["map_classes"],
        "classes_without_truth": values["classes_without_truth"],
        "published": dict(entry.published),
        "videos": len(finished),
        "videos_total": len(set(videos) | finished),
        "failed": len(failures),
        "keyframes": sum(1 for key in keys if key in done),
        "keyframes_total": len(keys),
        "truth_boxes": values["truth_boxes"],
        "excluded_frames": len(skipped),
    }


def summary_line(result: dict) -> str:
    """One line: frame mAP beside the published one, coverage, failures."""
    published = result["published"].get("map")
    if "map" in result["metrics"]:
        values = result["metrics"]
        text = f"frame mAP {values['map']:.2f}" + (f" (published {published:.2f})" if published is not None else "")
        if abs(values["map_by_score"] - values["map"]) >= 0.005:
            text += f"; {values['map_by_score']:.2f} matching each frame's boxes by score instead of in row order"
    else:
        text = "no video finished"
    text = f"{result['model']} on AVA: {text} over {result['videos']}/{result['videos_total']} videos, " \
           f"{result['keyframes']}/{result['keyframes_total']} keyframes"
    if result["failed"]:
        text += f"; {result['failed']} video{'s' if result['failed'] != 1 else ''} failed (listed in {result['failures_file']})"
    left = result["videos_total"] - result["videos"] - result["failed"]
    if left > 0:  # an interrupted run, merged: its mAP is of the keyframes scored so far
        text += (f"; INCOMPLETE: {left} video{'s' if left != 1 else ''} not finished (run the evaluation again with "
                 "this --out: it resumes)")
    return text


def entry_boxes(entry, given, annotations) -> str:
    """The person boxes CSV for ``entry`` in ``zoo reproduce --dataset ava``.

    ``given`` (``--boxes``, a list): ``NAME=FILE`` for one entry (name or alias), a plain
    ``FILE`` for every entry without its own; neither: the catalogue's ``ava_box_list``
    (e.g. ``person_box_67091280_iou90/ava_detection_val_boxes_and_labels.csv``, each entry
    its own) beside the annotations. Each entry keeps its own box threshold (catalogue).

    Example:
        >>> import zoo
        >>> entry_boxes(zoo.get_entry("slow_r50_4x16_ava"), ["all.csv", "slow_r50_detection=slow.csv"], "ava/gt.csv")
        'slow.csv'
    """
    names = {entry.name, *entry.aliases}
    plain = None
    for item in given or []:
        name, sep, path = item.partition("=")
        if not sep:
            plain = item
        elif name.strip().lower() in names:
            return path
    if plain:
        return plain
    listed = entry.extra.get("ava_box_list")
    candidate = Path(annotations).parent / listed if listed else None
    if candidate is None or not candidate.exists():
        raise FileNotFoundError(f"{entry.name}: no person boxes; pass --boxes FILE (every entry) or --boxes "
                                f"{entry.name}=FILE (its list is {listed}; not found beside {annotations})")
    return str(candidate)
