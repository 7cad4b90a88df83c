"""The demo transfer task: the shipped demo checkpoint as the "pretrained" model, new classes.

Renders :data:`benchmarks.demo.videos.TRANSFER_CLASSES` (diagonal motions and shrinking, few
training videos per class) and trains ``i3d_tiny_8x4_demo`` on them with ``zoo finetune``
three ways with the same budget (epochs, batch, optimizer, schedule): a linear probe and a full
fine-tune from the demo checkpoint, and the same network from scratch. Each is measured by
the harness (the entry's 5x3 views on the held-out videos), for each seed; the table goes to
``results/finetune.md|csv``.

Example:
    $ python -m benchmarks.perf.transfer_demo --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

from benchmarks.demo import videos
from benchmarks.finetune import FinetuneConfig, finetune

SETTINGS = {
    "linear probe (demo checkpoint)": dict(mode="linear", weights="published"),
    "full fine-tune (demo checkpoint)": dict(mode="full", weights="published"),
    "from scratch (same budget)": dict(mode="full", weights="none", backbone_lr_scale=1.0),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=str(videos.default_root().parent / "demo_transfer"))
    p.add_argument("--train-per-class", type=int, default=8)
    p.add_argument("--val-per-class", type=int, default=20)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--runs", default="runs/finetune_demo")
    p.add_argument("--out", default="results")
    args = p.parse_args(argv)
    folders = videos.generate_transfer(args.root, {"train": args.train_per_class, "val": args.val_per_class})
    rows = []
    for name, setting in SETTINGS.items():
        for seed in args.seeds:
            tag = f"{setting['mode']}_{setting['weights']}_s{seed}"
            start = time.perf_counter()
            config = FinetuneConfig("i3d_tiny_8x4_demo", "folders", str(folders["train"]), val=str(folders["val"]),
                                    out=str(Path(args.runs) / tag), epochs=args.epochs, batch_size=args.batch_size,
                                    optimizer="adamw", lr=args.lr, val_fraction=0.0, workers=args.workers, seed=seed,
                                    **{k: v for k, v in setting.items()})
            manifest = finetune(config, progress=False, log=None)
            rows.append({"setting": name, "seed": seed, "top1": manifest["val"]["top1"],
                         "final_loss": round(manifest["history"][-1]["loss"], 4), "videos": manifest["val"]["videos"],
                         "views": manifest["val"]["views"], "seconds": round(time.perf_counter() - start, 1)})
            print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "finetune.csv", index=False)
    summary = []
    for name in SETTINGS:
        top1 = frame[frame.setting == name].top1.tolist()
        spread = statistics.stdev(top1) if len(top1) > 1 else 0.0
        summary.append([name, " / ".join(f"{v:.2f}" for v in top1), f"{statistics.mean(top1):.2f}", f"{spread:.2f}"])
    table = pd.DataFrame(summary, columns=["setting", "top 1 per seed", "mean top 1", "std"]).to_markdown(index=False)
    command = "python -m benchmarks.perf.transfer_demo " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    text = (f"# Demo transfer task: {len(videos.TRANSFER_CLASSES)} new classes ({', '.join(videos.TRANSFER_CLASSES)}), "
            f"{args.train_per_class} training videos per class, {args.val_per_class} held out per class\n\n"
            f"`i3d_tiny_8x4_demo`, {args.epochs} epochs, batch {args.batch_size}, AdamW lr {args.lr}, cosine with "
            f"warm-up; top-1 by the harness (the entry's 5x3 views), seeds {args.seeds}.\n\n{table}\n\n"
            f"Command: `{command}`\n")
    (out / "finetune.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
