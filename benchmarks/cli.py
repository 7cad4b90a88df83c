"""The ``zoo`` command line: ``zoo list|info|evaluate|merge|complexity|tables|reproduce|benchmark|...``.

``list``, ``info``, ``evaluate`` and ``merge`` are here: ``evaluate`` turns its arguments into
one :class:`~benchmarks.run_config.RunConfig` and hands it to the video evaluation
(:func:`benchmarks.evaluate.run_evaluation`) or, for an AVA detector, to the keyframe one
(:func:`benchmarks.ava.evaluate.run_ava_evaluation`); ``merge`` picks between their merges by
the run folder's ``config.json``. This is the one place that chooses between the two. Every
other subcommand lives in its own module, which defines ``add_parser(subparsers)`` and sets
``func`` on its parser; those modules are listed in ``SUBCOMMAND_MODULES``.

Example:
    $ zoo list --dataset ssv2
    $ zoo info slowfast_r50
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

from benchmarks.datasets import TRANSFER_DATASETS
from benchmarks.run_config import CONFIG_FILE, FAILURES_FILE, RunConfig, views_argument

#: Harness modules that add subcommands (each defines ``add_parser(subparsers)``).
SUBCOMMAND_MODULES = (
    "benchmarks.complexity",
    "benchmarks.tables",
    "benchmarks.reproduce",
    "benchmarks.audit",
    "benchmarks.predict",
    "benchmarks.speed",
    "benchmarks.transfer.finetune",
    "benchmarks.transfer.features",
    "benchmarks.deploy.export",
)


def _cmd_list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    import zoo

    rows = []
    for name in zoo.list_models(list_pattern(args.pattern), dataset=args.dataset):
        e = zoo.get_entry(name)
        metric = "/".join(f"{v:.2f}" for v in e.published.values())
        gflops = f"{e.gflops:g} x {e.views_label}" if e.gflops is not None else "-"
        rows.append([e.name, ",".join(e.aliases) or "-", e.frames_x_rate, metric, gflops, f"{e.params_m:.2f}"])
    headers = ["name", "aliases", "frames x rate", "published", "GFLOPs x views", "params (M)"]
    # Params at the published precision (2 decimals: efficient X3D's 3.80, not 3.8), as text.
    print(tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True))
    return 0


def list_pattern(word: str) -> str:
    """``zoo list WORD``'s shell-style pattern: a word without wildcards matches anywhere in a name.

    Example:
        >>> list_pattern("demo"), list_pattern("x3d_*")
        ('*demo*', 'x3d_*')
    """
    return word if any(c in word for c in "*?[") else f"*{word}*"


def _cmd_info(args: argparse.Namespace) -> int:
    import zoo

    from zoo.transforms import protocol_of

    entry = zoo.get_entry(args.name)
    for key, value in entry.as_record().items():
        if key == "views":  # the published label is crops x clips; --views takes CLIPSxCROPS
            value = f"{value} (crops x clips, as published; --views {entry.temporal_clips}x{entry.spatial_crops})"
        if value not in (None, "", {}):
            print(f"{key:>16}: {value}")
    protocol = protocol_of(entry)
    print(f"\ntest input ({entry.extra.get('protocol')}: {protocol.get('description', '')})")
    print(f"{'config':>16}: {entry.extra.get('config', '-')}")
    for field, item in protocol.items():
        if isinstance(item, dict):
            print(f"{field:>16}: {item['value']}  [{item['source']}]")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import zoo
    from benchmarks.datasets import AnnotationError
    from benchmarks.runtime.shards import ShardError, is_main_process

    problem = _data_arguments_problem(args) or _run_arguments_problem(args)
    if problem:
        print(f"zoo evaluate: {problem}", file=sys.stderr)
        return 2
    ava, out = False, None
    try:
        entry = zoo.get_entry(args.name)
        config = RunConfig.from_args(args)
        if config.weights.random and is_main_process():
            # the default, as zoo.create_model's: say it, as zoo predict does, before a long run of it
            print(f"zoo evaluate: note: {entry.name} has random weights (no --pretrained/--checkpoint): its accuracy "
                  "measures an untrained network (the tables do not take it)", file=sys.stderr)
        ava = (args.dataset or entry.dataset) == "ava" or entry.dataset == "ava"
        out = config.out_dir(entry.name, ava=ava)
        if ava:
            if not args.boxes:
                print("zoo evaluate: AVA needs --boxes (the predicted person boxes CSV, e.g. "
                      f"{entry.extra.get('ava_box_list', 'ava_detection_val_boxes_and_labels.csv')})", file=sys.stderr)
                return 2
            from benchmarks.ava.evaluate import run_ava_evaluation

            result = run_ava_evaluation(config, progress=not args.quiet)
        else:
            from benchmarks.evaluate import run_evaluation

            result = run_evaluation(config, progress=not args.quiet)
            if config.tables is not None and is_main_process():  # AVA's evaluation makes its own
                from benchmarks.tables import write_tables

                write_tables(config.tables, progress=False, command=f"zoo evaluate {entry.name}")
    except (AnnotationError, FileNotFoundError, ValueError, ShardError) as err:
        # Under torchrun a rank that only learnt of another's failure (ShardError) says it only if it
        # is its machine's first (LOCAL_RANK 0): the cause once per machine's log, not once per rank.
        if not isinstance(err, ShardError) or os.environ.get("LOCAL_RANK", "0") == "0":
            print(f"zoo evaluate: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if is_main_process():
            print(_interrupted(out, "keyframe" if ava else "video"), file=sys.stderr)
        return 130
    if result and result.get("failed") and not result.get("videos"):  # every video failed: no measurement at all
        print(f"zoo evaluate: every video failed ({result['failed']}; see {result.get('failures_file')}): "
              "check --video-root and the annotation paths", file=sys.stderr)
        return 1
    return 0


def _interrupted(out: Path | None, item: str) -> str:
    """What ``zoo evaluate`` says when Ctrl-C stops it: how to resume, when it has a run folder."""
    if out is None or not (Path(out) / CONFIG_FILE).exists():
        return "zoo evaluate: interrupted"
    return f"zoo evaluate: interrupted; {out} keeps every scored {item}: run the same command again to resume"


def _run_arguments_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with ``zoo evaluate``'s other arguments, before anything is read or written."""
    if args.limit is not None and args.limit < 1:
        return f"--limit {args.limit}: give the number of videos to evaluate, 1 or more (leave it out for all)"
    video_root = getattr(args, "video_root", None)
    if video_root and not Path(video_root).is_dir():
        # else every video "fails" as missing, and the run ends as if it had measured something
        what = "does not exist" if not Path(video_root).exists() else "is not a folder"
        return f"--video-root {video_root} {what} (the folder holding the videos or frame folders)"
    return None


def _data_arguments_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with ``zoo evaluate``'s data arguments for ``--dataset``, if anything."""
    dataset, video_root, split = (getattr(args, k, None) for k in ("dataset", "video_root", "split"))
    if dataset == "folders":
        if video_root:
            return "--dataset folders reads every video under --annotations (root/<class>/<video>); drop --video-root"
    elif not video_root:
        return "--video-root is required (the folder holding the videos; only --dataset folders has none)"
    if split is not None and dataset != "hmdb51":
        return "--split is HMDB51's (--dataset hmdb51); a UCF101 split is its list file (testlist0N.txt)"
    return None


def add_evaluate_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``zoo evaluate`` to the ``zoo`` command line."""
    p = subparsers.add_parser(
        "evaluate",
        help="multi-view accuracy of an entry on a dataset (resumable)",
        description="Run the entry's published test protocol on a dataset; results go to --out, "
        "a rerun with the same --out resumes. Started by torchrun (torchrun --nproc-per-node N -m "
        "benchmarks.cli evaluate ...), the videos are sharded over the ranks, one GPU each "
        "(cuda:LOCAL_RANK), and rank 0 merges; zoo merge --out redoes the merge offline.",
    )
    p.add_argument("name", help="canonical name or alias")
    p.add_argument("--annotations", required=True, help="Kinetics CSV or 'path label' list, SSv2 validation JSON, "
                   "Charades CSV; ucf101: testlist0N.txt (classInd.txt beside it); hmdb51: the "
                   "testTrainMulti_7030_splits folder (--split); folders: root/<class>/<video>, every video")
    p.add_argument("--video-root", help="folder holding the videos, or frame folders (one per video), "
                   "or the frame-list prefix (DATA.PATH_PREFIX); AVA: frame folders <video>/ or videos; "
                   "ucf101/hmdb51: the folder of class folders (required, except with --dataset folders)")
    p.add_argument("--dataset", choices=["kinetics400", "ssv2", "charades", "ava", "demo", *TRANSFER_DATASETS],
                   help="annotation format (default: the entry's dataset); ucf101, hmdb51, folders: a fine-tuned "
                   "checkpoint's data (zoo finetune), labelled in the class order it trained with")
    p.add_argument("--classes", help="class list in checkpoint index order (txt, one per line, or JSON {name: index}); "
                   "ucf101/hmdb51/folders: the zoo finetune run's classes.txt, checked against the data's classes")
    p.add_argument("--split", type=int, help="hmdb51: the split (1-3) whose test videos (id 2) are measured (default 1)")
    p.add_argument("--labels", help="SSv2 labels JSON (default: labels.json beside the annotations)")
    p.add_argument("--frame-list", help="SSv2: PySlowFast's frame-list val.csv (JPEG frames under --video-root), "
                   "the layout the published number was measured on; Charades: pass its frame list as --annotations")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--pretrained", action="store_true", help="the published checkpoint (downloaded once)")
    weights.add_argument("--checkpoint", help="checkpoint path, file://, https:// or hf:// source")
    weights.add_argument("--builder", help="module:function(entry) -> model, instead of zoo.create_model (custom/test models)")
    weights.add_argument("--artifact", help="an exported file (zoo export: .onnx or .pte, its manifest beside it), run "
                         "by its runtime under the same protocol, views, aggregation and metrics")
    p.add_argument("--views", type=views_argument, help="CLIPSxCROPS, e.g. 10x3 (default: the catalogue's)")
    p.add_argument("--protocol-of", metavar="OTHER", help="run under entry OTHER's test protocol (its clip and crop "
                   "rules and views; this model's frames, sizes and mean/std), for a like-for-like comparison")
    p.add_argument("--batch-size", type=int,
                   help="views per forward pass, filled across videos when larger than a video's views "
                        "(default: all views of a video, one pass each)")
    p.add_argument("--workers", type=int, default=2,
                   help="decoding processes (0: in the main process; with a GPU model on a thread, one video ahead)")
    p.add_argument("--limit", type=int, help="only the first N videos")
    p.add_argument("--out", help="results folder (default runs/evaluate/<name>_<views>, and the artifact's or "
                   "checkpoint's file name when measuring one)")
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda where torch sees a GPU, else cpu; "
                   "an --artifact runs on its runtime's CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--fast", action="store_true", help="inference fast paths (zoo.optimize: BN folding, torch.compile "
                   "on CPU, CUDA graphs on GPU)")
    p.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32",
                   help="autocast the model to bf16/fp16 (GPU; bf16 also on CPU)")
    group = p.add_argument_group("AVA (--dataset ava)")
    group.add_argument("--boxes", help="predicted person boxes CSV (video,timestamp,x1,y1,x2,y2,action,score)")
    group.add_argument("--label-map", help="label map .pbtxt of the evaluated classes (default: the official file beside --annotations)")
    group.add_argument("--excluded", help="excluded timestamps CSV (default: the official file beside --annotations, if there)")
    group.add_argument("--box-threshold", type=float, help="keep person boxes scoring at least this (default: the catalogue's)")
    p.add_argument("--tables", help="regenerate the tables in this folder afterwards (reads every metrics.json under "
                   "it: --out under it, e.g. --out results/runs/NAME --tables results)")
    p.set_defaults(func=_cmd_evaluate)
    return p


def _is_ava(out) -> bool:
    config = Path(out) / CONFIG_FILE
    return config.exists() and json.loads(config.read_text()).get("dataset") == "ava"


def _cmd_merge(args: argparse.Namespace) -> int:
    from benchmarks.runtime import shards

    if _is_ava(args.out):  # an AVA run: detections/keyframes_done/failures files, frame mAP
        from benchmarks.ava import evaluate as run

        results, merge = run.DETECTIONS_FILE, run.merge_ava
    else:
        from benchmarks import evaluate as run

        results, merge = run.SCORES_FILE, run.merge_results
    files = [p.name for base in (results, FAILURES_FILE) for p in shards.result_files(args.out, base)]
    try:
        result = merge(args.out)
    except (FileNotFoundError, ValueError, KeyError) as err:
        print(f"zoo merge: {err}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"merged {len(files)} result files: {', '.join(files) or 'none'}")
    print(run.summary_line(result))
    return 0


def add_merge_parser(subparsers) -> argparse.ArgumentParser:
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


def build_parser() -> argparse.ArgumentParser:
    import zoo

    # the module docstring's first line without its reST markup: --help prints it as it is
    parser = argparse.ArgumentParser(prog="zoo", description=__doc__.splitlines()[0].replace("``", ""))
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list the catalogued entries")
    p.add_argument("pattern", nargs="?", default="*", help="shell-style name pattern (x3d_*); a word without "
                   "wildcards matches anywhere in the name (demo: *demo*)")
    # the catalogue's datasets, so that a new one (demo) is listable without touching this
    p.add_argument("--dataset", choices=sorted({zoo.get_entry(n).dataset for n in zoo.list_models()}),
                   help="only the entries of this dataset")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("info", help="every field of one entry")
    p.add_argument("name", help="canonical name or alias")
    p.set_defaults(func=_cmd_info)

    add_evaluate_parser(sub)
    add_merge_parser(sub)
    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise
            continue  # not written yet
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # the command as typed, for the records that name it (zoo finetune's results row)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # here, so that a closed pipe is caught below, not at the interpreter's exit
        return code
    except KeyError as err:  # unknown model names carry their suggestions
        print(f"zoo: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (zoo list | head): stop quietly. Python's recipe: stdout to devnull,
        # so that the flush at exit does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
