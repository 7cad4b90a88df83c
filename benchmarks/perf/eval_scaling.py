"""Wall time of one evaluation in 1 process vs N torchrun ranks, and whether they agree.

Renders the demo's held-out videos (:mod:`benchmarks.demo.videos`), then evaluates the shipped
demo entry under its full multi-view protocol, each setting in a fresh results folder, as a
user would run it (``python -m benchmarks.cli evaluate ...`` and ``python -m
torch.distributed.run --standalone --nproc-per-node N -m benchmarks.cli evaluate ...``),
``--repeats`` times interleaved. Prints, per setting, the median wall time of the whole
command (start-up included) and of the evaluation itself (``metrics.json``'s ``wall_s``,
from the plan to the merge), the speed-up over one process, and whether the metrics and the
per-video scores are identical to the 1-process, 1-thread run (the thread count of a
process, not the world size, changes the last bits of a CPU convolution).

Example:
    $ python -m benchmarks.perf.eval_scaling --videos 100 --nproc 2 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(command: list[str], out: Path, threads: int | None) -> tuple[float, dict, dict]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("OMP_NUM_THREADS", None)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    start = time.perf_counter()
    subprocess.run(command + ["--out", str(out), "--quiet"], cwd=REPO, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    from benchmarks.runtime import shards
    lines = {}
    for path in shards.result_files(out, "scores.jsonl"):
        for line in path.read_text().splitlines():
            lines[json.loads(line)["key"]] = line
    return wall, json.loads((out / "metrics.json").read_text()), lines


def main(argv: list[str] | None = None) -> int:
    from benchmarks.demo import videos as demo_data
    from benchmarks.reproduce import DEMO_ENTRY

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=100, help="demo held-out videos to evaluate (at most 100)")
    p.add_argument("--nproc", type=int, default=2, help="ranks of the torchrun run")
    p.add_argument("--workers", type=int, default=0, help="decoding processes per rank (and for the 1-process runs)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--data", help="where the demo videos are rendered (default: the demo cache)")
    args = p.parse_args(argv)

    root = Path(args.data) if args.data else demo_data.default_root()
    annotations = demo_data.generate(root, {"val": demo_data.DEFAULT_SPLITS["val"]}, limit=args.videos, progress=False)["val"]
    evaluate = ["-m", "benchmarks.cli", "evaluate", DEMO_ENTRY, "--pretrained", "--annotations", str(annotations),
                "--video-root", str(root), "--workers", str(args.workers)]
    one = [sys.executable, *evaluate]
    many = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(args.nproc), *evaluate]
    settings = {
        "1 process, default threads": (one, None),
        "1 process, 1 thread": (one, 1),
        f"{args.nproc} ranks, 1 thread each": (many, 1),
    }
    walls: dict[str, list[float]] = {k: [] for k in settings}
    evals: dict[str, list[float]] = {k: [] for k in settings}
    outputs: dict[str, tuple[dict, dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for i, (name, (command, threads)) in enumerate(settings.items()):
                wall, metrics, lines = _run(command, Path(tmp) / f"{repeat}_{i}", threads)
                walls[name].append(wall)
                evals[name].append(metrics["timing"]["wall_s"])
                outputs[name] = (metrics["metrics"], lines)
    base_name = "1 process, 1 thread"
    base_metrics, base_lines = outputs[base_name]
    base_wall, base_eval = statistics.median(walls[base_name]), statistics.median(evals[base_name])
    print(f"{DEMO_ENTRY}, {args.videos} videos, full protocol, --workers {args.workers}, {os.cpu_count()} CPUs; "
          f"median of {args.repeats}; speed-ups against {base_name!r}")
    print("| setting | command wall s | evaluation wall s | speed-up, command | speed-up, evaluation "
          "| same metrics | same scores, bit for bit |")
    print("|---|---|---|---|---|---|---|")
    for name in settings:
        wall, ev = statistics.median(walls[name]), statistics.median(evals[name])
        metrics, lines = outputs[name]
        print(f"| {name} | {wall:.2f} | {ev:.2f} | {base_wall / wall:.2f}x | {base_eval / ev:.2f}x | "
              f"{metrics == base_metrics} | {lines == base_lines} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
