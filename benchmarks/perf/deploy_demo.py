"""The exported demo model's accuracy, measured by the harness exactly as the eager one's.

The shipped demo checkpoint is exported to each runtime (fp32, and int8 calibrated on the
first ``--calibration-videos`` *training* videos through the entry's test protocol, so the
evaluated videos take no part in it), then ``zoo evaluate --artifact`` scores every file on
the 100 held-out demo videos with the full 5x3 protocol, beside the eager model (published
92.00). Rows go to ``results/deploy_demo.csv``; :mod:`benchmarks.deploy.report` puts them in
``results/deploy.md``.

Command line:
    $ python -m benchmarks.perf.deploy_demo [--formats onnx executorch] [--calibration-videos 16]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

from benchmarks.deploy.report import DEMO_COLUMNS, DEMO_FILE, write_report
from benchmarks.runtime.files import atomic_path

ENTRY = "i3d_tiny_8x4_demo"


def main(argv=None) -> int:
    import zoo
    from benchmarks.demo import videos as demo_data
    from benchmarks.evaluate import run_evaluation
    from benchmarks.run_config import DataFiles, RunConfig, Weights

    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf.deploy_demo", description=__doc__.splitlines()[0])
    parser.add_argument("--formats", nargs="+", default=["onnx", "executorch"], choices=["onnx", "executorch"])
    parser.add_argument("--calibration-videos", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", default="results")
    args = parser.parse_args(argv)
    root = demo_data.default_root()
    val = demo_data.generate(root, {"val": demo_data.DEFAULT_SPLITS["val"]}, progress=False)["val"]
    train = demo_data.generate(root, {"train": demo_data.DEFAULT_SPLITS["train"]}, limit=args.calibration_videos,
                               progress=False)["train"]
    calibration = [str(root / line.split()[0]) for line in train.read_text().splitlines()[: args.calibration_videos]]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        classes = tmp / "classes.txt"
        classes.write_text("\n".join(zoo.classes.class_names("demo")) + "\n")
        data = DataFiles(str(val), str(root), dataset="kinetics400", classes=str(classes))
        variants = [("eager", None, False)] + [(f + ("-int8" if q else ""), f, q) for f in args.formats
                                                for q in (False, True)]
        for label, fmt, int8 in variants:
            start = time.perf_counter()
            weights = Weights(pretrained=True)
            if fmt is not None:
                path = tmp / f"demo_{label}{'.onnx' if fmt == 'onnx' else '.pte'}"
                zoo.export(ENTRY, path, format=fmt, int8=int8, pretrained=True,
                           calibration=calibration if int8 else (), check_video=calibration[0])
                weights = Weights(artifact=str(path))
            result = run_evaluation(RunConfig(ENTRY, data=data, weights=weights, workers=args.workers,
                                              out=str(tmp / label)), progress=False, log=None)
            rows.append({"runtime": label, "top1": f"{result['metrics']['top1']:.2f}",
                         "top5": f"{result['metrics']['top5']:.2f}", "videos": result["videos"],
                         "calibration": f"{len(calibration)} training videos" if int8 else "",
                         "wall_s": f"{time.perf_counter() - start:.0f}",
                         "command": "python -m benchmarks.perf.deploy_demo"})
            print(f"{label}: top1 {rows[-1]['top1']} on {result['videos']} videos", flush=True)
    out = Path(args.out)
    with atomic_path(out / DEMO_FILE) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, DEMO_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    write_report(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
