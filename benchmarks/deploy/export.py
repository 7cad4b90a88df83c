"""``zoo export``: an entry as an ONNX Runtime or ExecuTorch file, with its manifest.

The export itself is the library's (:func:`zoo.export`); this command adds the calibration
set read from an annotation file (the first ``--calibration-videos`` videos, read through the
entry's own test protocol) and the check clip.

Command line:
    $ zoo export x3d_xs --pretrained --format onnx --out x3d_xs.onnx --check-video clip.mp4
    $ zoo export efficient_x3d_xs --pretrained --format executorch --int8 \\
          --calibration k400/val.csv --video-root k400/val --calibration-videos 32 --out ex3d_xs_int8.pte
    $ zoo evaluate efficient_x3d_xs --artifact ex3d_xs_int8.pte --annotations k400/val.csv --video-root k400/val
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from benchmarks.datasets import TRANSFER_DATASETS, AnnotationError, load_any_classes
from zoo.deploy.artifact import FORMATS, read_manifest
from zoo.deploy.layout import LAYOUTS


def calibration_videos(dataset: str, annotations, video_root, count: int) -> list[str]:
    """``count`` videos (files or frame folders) of an annotation file, spread over its classes:
    the first video of each class in turn, then the second, ... (in the file's order), so that a
    file sorted by class does not calibrate on its first classes alone. Class names outside the
    dataset's list (the user's own classes) are fine: the labels only spread the picks."""
    try:
        records = load_any_classes(dataset, annotations, video_root)[0].records
    except AnnotationError:
        listed = video_list(annotations, video_root)  # calibration needs no labels: a plain list of videos
        if listed is None:
            raise
        return listed[:count]
    by_class: dict = {}
    for record in records:
        by_class.setdefault(str(record.label), []).append(record)
    picked = []
    for rank in range(max((len(group) for group in by_class.values()), default=0)):
        picked += [group[rank] for group in by_class.values() if rank < len(group)]
    return [r.source for r in picked[:count]]


def video_list(path, video_root) -> list[str] | None:
    """The videos of a plain list, one per line (a path, optionally followed by a label), under
    ``video_root`` unless absolute; None when a line names no existing file or folder."""
    root = Path(video_root) if video_root else Path()
    videos = []
    for text in Path(path).read_text().splitlines():
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        for candidate in (text, text.rsplit(None, 1)[0]):
            full = Path(candidate) if Path(candidate).is_absolute() else root / candidate
            if full.exists():
                videos.append(str(full))
                break
        else:
            return None
    return videos


def _cmd_export(args: argparse.Namespace) -> int:
    import zoo

    try:
        entry = zoo.get_entry(args.name)
        out = Path(args.out or f"{entry.name}{'_int8' if args.int8 else ''}{FORMATS[args.format]}")
        calibration = []
        if args.int8:
            folders = args.dataset == "folders"  # a folder per class needs no --video-root
            if args.calibration and Path(args.calibration).is_dir() and not folders:
                raise ValueError(f"--calibration {args.calibration} is a folder: a folder per class needs --dataset folders")
            if not (args.calibration and (args.video_root or folders)):
                raise ValueError("--int8 needs --calibration ANNOTATIONS and --video-root (the clips it is calibrated on; "
                                 "a folder per class: --calibration DIR --dataset folders)")
            calibration = calibration_videos(args.dataset or entry.dataset, args.calibration, args.video_root,
                                             args.calibration_videos)
            if len(calibration) < args.calibration_videos:
                print(f"zoo export: note: {args.calibration} holds {len(calibration)} videos; calibrating on all of them "
                      f"(--calibration-videos {args.calibration_videos})", file=sys.stderr)
        with warnings.catch_warnings():  # the library's warning of random weights: said below, once, as a note
            warnings.filterwarnings("ignore", message=".*scores mean nothing.*")
            path = zoo.export(entry.name, out, format=args.format, int8=args.int8, pretrained=args.pretrained,
                              checkpoint=args.checkpoint, calibration=calibration, check_video=args.check_video,
                              batch=args.batch, rewrite_2d=True if args.rewrite_2d else None, classes=args.classes,
                              layout=args.layout)
    except (AnnotationError, OSError, ValueError, RuntimeError) as err:
        print(f"zoo export: {err}", file=sys.stderr)
        return 2
    manifest = read_manifest(path)
    if not (args.pretrained or args.checkpoint):  # zoo.export's default: a file that runs but predicts nothing
        print(f"zoo export: note: {entry.name} has random weights (no --pretrained/--checkpoint): the file's scores "
              "mean nothing", file=sys.stderr)
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB, {manifest['format']}{', int8' if manifest['int8'] else ''}, "
          f"weights {manifest['weights']}): "
          f"max |exported - eager| {manifest['max_abs_diff']:.3g} (output scale {manifest['output_scale']:.3g}) "
          f"on {manifest['check_input']}; manifest {path}.manifest.json")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``zoo export`` to the ``zoo`` command line."""
    p = subparsers.add_parser(
        "export",
        help="export an entry to ONNX Runtime or ExecuTorch (XNNPACK), fp32 or int8, with a manifest",
        description="Export an entry at its test clip, BN folded, 3D convolutions rewritten as 2D for "
        "ExecuTorch; int8 calibrated on videos of an annotation file through the entry's test protocol. "
        "Writes the file and <file>.manifest.json (inputs, protocol, classes, sha256, versions, max diff).",
    )
    p.add_argument("name", help="canonical name or alias")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--pretrained", action="store_true", help="the published checkpoint (without it or "
                         "--checkpoint: random weights, which the manifest records)")
    weights.add_argument("--checkpoint", help="checkpoint path, file://, https:// or hf:// source")
    p.add_argument("--format", choices=sorted(FORMATS), default="onnx")
    p.add_argument("--int8", action="store_true", help="quantize (PT2E XNNPACK / ONNX Runtime static QDQ)")
    p.add_argument("--calibration", metavar="ANNOTATIONS", help="int8: the calibration videos: an annotation file, a plain list of "
                   "videos (one per line), or a folder per class with --dataset folders")
    p.add_argument("--video-root", help="int8: folder of the calibration videos")
    p.add_argument("--dataset", choices=["kinetics400", "ssv2", "charades", "demo", *TRANSFER_DATASETS],
                   help="format of --calibration (default: the entry's dataset)")
    p.add_argument("--calibration-videos", type=int, default=16, help="int8: how many videos (default 16)")
    p.add_argument("--check-video", help="a real clip to compare the exported file with the eager model on")
    p.add_argument("--batch", type=int, default=1, help="views per call of the exported model (default 1)")
    p.add_argument("--rewrite-2d", action="store_true", help="ONNX too: 3D convolutions and pools as 2D ones")
    p.add_argument("--layout", choices=LAYOUTS, help="with the 2D rewrite: a clip as one batch of frames, or one tensor "
                   "per frame where its frames are large (default: per-frame for fp32 ExecuTorch clips of up to 16 "
                   "frames, the faster file there; else frames)")
    p.add_argument("--classes", help="the class names in output order, for the manifest (default: the classes.txt "
                   "zoo finetune leaves beside --checkpoint, else the dataset's list)")
    p.add_argument("--out", help="the file to write (default <entry>[_int8].onnx|.pte; a .pte name with --format "
                   "onnx, or .onnx with executorch, is refused)")
    p.set_defaults(func=_cmd_export)
    return p
