"""The demo transfer task: the shipped demo checkpoint as the "pretrained" model, new classes.

Renders :data:`benchmarks.demo.videos.TRANSFER_CLASSES` (diagonal motions and shrinking, few
training videos per class) and trains ``i3d_tiny_8x4_demo`` on them with ``zoo finetune``
three ways with the same budget (epochs, batch, optimizer, schedule): a linear probe and a full
fine-tune from the demo checkpoint, and the same network from scratch. Each is measured by
the harness (the entry's 5x3 views on the held-out videos), for each seed and each ``--epochs``
recipe given. Its rows replace the demo rows of ``results/finetune.csv`` (the ``zoo finetune``
runs' rows stay) and ``results/finetune.md`` is made anew from that file
(:mod:`benchmarks.finetune_table`: the demo's tables and verdicts, the runs, and the peers'
published fine-tuning results from Kinetics-400 weights, :func:`zoo.catalog.load_transfer_anchors`).

A run whose folder already holds a finished manifest with the same hyper-parameters is read
back, not trained again (the runs live under ``--runs``, one folder per recipe, setting and
seed), so the tables are regenerated in seconds and a killed run keeps what it finished.

The recipe was tuned once, the same for the three settings: 15 epochs left the full fine-tune
below the linear probe (45 optimiser steps, the loss still falling), so the default is now 40;
``--epochs 15 40`` shows both.

Example:
    $ python -m benchmarks.perf.transfer_demo --seeds 0 1 2 --epochs 15 40
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from benchmarks.demo import videos
from benchmarks.finetune import MANIFEST, FinetuneConfig, finetune
from benchmarks.finetune_table import FULL, LINEAR, SCRATCH, SOURCE_DEMO, manifest_row, replace_demo_rows

SETTINGS = {
    LINEAR: dict(mode="linear", weights="published"),
    FULL: dict(mode="full", weights="published"),
    SCRATCH: dict(mode="full", weights="none", backbone_lr_scale=1.0),
}


def run_or_read(config: FinetuneConfig) -> dict:
    """The run's manifest: read back when ``config.out`` holds a finished run with the same
    hyper-parameters (and its measurement), else trained (resumed) and measured now."""
    path = Path(config.out) / MANIFEST
    if path.is_file():
        manifest = json.loads(path.read_text())
        if manifest.get("hyper_parameters") == json.loads(json.dumps(config.hyper_parameters())) and "val" in manifest:
            return manifest
    return finetune(config, progress=False, log=None)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=str(videos.default_root().parent / "demo_transfer"))
    p.add_argument("--train-per-class", type=int, default=8)
    p.add_argument("--val-per-class", type=int, default=20)
    p.add_argument("--epochs", type=int, nargs="+", default=[40],
                   help="one recipe per value; the last is the recipe the verdicts headline")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--runs", default="results/runs/finetune_demo")
    p.add_argument("--out", default="results")
    args = p.parse_args(argv)
    folders = videos.generate_transfer(args.root, {"train": args.train_per_class, "val": args.val_per_class},
                                       progress=False)
    command = "python -m benchmarks.perf.transfer_demo " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    rows = []
    for epochs in args.epochs:
        for name, setting in SETTINGS.items():
            for seed in args.seeds:
                run = Path(args.runs) / f"e{epochs}" / f"{setting['mode']}_{setting['weights']}_s{seed}"
                config = FinetuneConfig("i3d_tiny_8x4_demo", "folders", str(folders["train"]), val=str(folders["val"]),
                                        out=str(run), epochs=epochs, batch_size=args.batch_size, optimizer="adamw",
                                        lr=args.lr, val_fraction=0.0, workers=args.workers, seed=seed,
                                        epoch_val_views=None, **setting)
                rows.append(manifest_row(run_or_read(config), str(run), command.strip(), source=SOURCE_DEMO,
                                         setting=name))
                print({k: rows[-1][k] for k in ("epochs", "setting", "seed", "top1", "final_loss")}, flush=True)
    page = replace_demo_rows(args.out, rows)
    print(page.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
