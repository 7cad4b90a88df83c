"""``zoo merge --out DIR``: an evaluation's final metrics from the result files in its folder.

What rank 0 does at the end of a sharded run (:func:`benchmarks.evaluate.merge_results`),
offline: every ``scores*.jsonl`` / ``failures*.jsonl`` file in ``DIR`` -- the single-process
file and every ``scores.rank-K-of-W.jsonl``, whatever world size wrote it -- merged in
annotation order (``records.json``), a video found in two files counted once, into
``metrics.json`` and one ``failures.jsonl``. Use it when ranks finished at different times,
a run was stopped before its merge, or rank files of the same command were copied in from
machines that did not share the folder. An AVA folder (``config.json`` says ``"dataset": "ava"``)
is merged as the end of an AVA run does (:func:`benchmarks.ava.evaluate.merge_ava`: every
``detections.rank-K-of-W.csv`` moved into ``detections.csv``, frame mAP). The folder's ``config.json`` (model, views, dataset, weights) is the one
every result file there was written under: ``zoo evaluate`` refuses to add results of
another configuration, so the merge never mixes two.

Example:
    $ zoo merge --out runs/i3d_tiny_8x4_demo
    merged 3 result files: scores.rank-0-of-2.jsonl, scores.rank-1-of-2.jsonl, failures.jsonl
    i3d_tiny_8x4_demo on demo, 5x3 views: top1 91.67 (published 92.00), top5 100.00 (published 100.00) over 12/12 videos
"""

from __future__ import annotations

import argparse
import sys


def _is_ava(out) -> bool:
    import json
    from pathlib import Path

    config = Path(out) / "config.json"
    return config.exists() and json.loads(config.read_text()).get("dataset") == "ava"


def _cmd_merge(args: argparse.Namespace) -> int:
    from benchmarks.runtime import shards
    if _is_ava(args.out):  # an AVA run: detections/keyframes_done/failures files, frame mAP
        from benchmarks.ava import evaluate as run
        results, merge = run.DETECTIONS_FILE, run.merge_ava
    else:
        from benchmarks import evaluate as run
        results, merge = run.SCORES_FILE, run.merge_results
    files = [p.name for base in (results, run.FAILURES_FILE) for p in shards.result_files(args.out, base)]
    try:
        result = merge(args.out)
    except (FileNotFoundError, ValueError, KeyError) as err:
        print(f"zoo merge: {err}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"merged {len(files)} result files: {', '.join(files) or 'none'}")
    print(run.summary_line(result))
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``zoo merge`` to the ``zoo`` command line."""
    p = subparsers.add_parser(
        "merge",
        help="final metrics of an evaluation folder from its per-rank result files (offline)",
        description="Merge every scores/failures file of an evaluation folder (single-process and "
        "per-rank, any world size) into metrics.json, exactly as the end of zoo evaluate does; "
        "an AVA folder's detections files go into detections.csv, then frame mAP.",
    )
    p.add_argument("--out", required=True, help="the evaluation's results folder (zoo evaluate --out)")
    p.add_argument("--quiet", action="store_true", help="only the summary line")
    p.set_defaults(func=_cmd_merge)
    return p
