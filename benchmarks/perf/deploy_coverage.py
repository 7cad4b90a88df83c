"""Which entries export to which runtime: the coverage matrix of ``results/deploy.md``.

Every entry (random weights with non-trivial BatchNorm statistics, at its test clip, batch 1)
is exported to ONNX and ExecuTorch (XNNPACK) by :func:`zoo.export`, which runs the file by its
runtime and compares it with the eager model: ``ok`` with the max ``|exported - eager|``
relative to the output's scale, ``export failed`` or ``runtime failed`` with the reason. Rows
are appended to ``results/deploy_coverage.csv`` as they finish, so a killed run resumes; then
the report is regenerated (:func:`benchmarks.deploy.report.write_report`).

Command line:
    $ python -m benchmarks.perf.deploy_coverage                       # every entry, both runtimes
    $ python -m benchmarks.perf.deploy_coverage x3d_xs slowfast_r50 --formats onnx
    $ python -m benchmarks.perf.deploy_coverage swin3d_t --formats executorch --again   # its row anew
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.deploy.report import COVERAGE_COLUMNS, COVERAGE_FILE, write_report
from benchmarks.references import randomize_norm_stats
from benchmarks.runtime.files import atomic_path, atomic_write


def coverage_row(name: str, fmt: str, workdir: Path) -> dict:
    """Export ``name`` to ``fmt`` and say how it went (see the module docstring); the row's
    ``layout`` is the file's, from its manifest (:func:`zoo.deploy.layout.default_layout`)."""
    import zoo
    from zoo.deploy.artifact import read_manifest
    from zoo.deploy.export import RuntimeFailure

    entry = zoo.get_entry(name)
    torch.manual_seed(0)
    model = randomize_norm_stats(zoo.create_model(entry.name))
    path = workdir / f"{entry.name}{'.onnx' if fmt == 'onnx' else '.pte'}"
    row = {"name": entry.name, "format": fmt, "status": "ok", "max_abs_diff": "", "relative_diff": "", "file_mb": "",
           "export_s": "", "reason": "", "layout": ""}
    start = time.perf_counter()
    try:
        zoo.export(model, path, format=fmt)
    except RuntimeFailure as err:
        row.update(status="runtime failed", reason=str(err))
    except Exception as err:  # noqa: BLE001 - every failure is a row of the matrix, with its reason
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        row.update(status="export failed", reason=f"{err.__class__.__name__}: {first}"[:300])
    row["export_s"] = f"{time.perf_counter() - start:.1f}"
    if row["status"] == "ok":
        manifest = read_manifest(path)
        row.update(max_abs_diff=f"{manifest['max_abs_diff']:.3g}",
                   relative_diff=f"{manifest['max_abs_diff'] / max(manifest['output_scale'], 1e-12):.3g}",
                   file_mb=f"{path.stat().st_size / 1e6:.1f}", layout=manifest.get("layout") or "")
    path.unlink(missing_ok=True)
    return row


def main(argv=None) -> int:
    import zoo

    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf.deploy_coverage", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="entries (default: every entry)")
    parser.add_argument("--formats", nargs="+", default=["onnx", "executorch"], choices=["onnx", "executorch"])
    parser.add_argument("--out", default="results")
    parser.add_argument("--again", action="store_true",
                        help="measure the named entries (with no names: every entry) again in --formats, "
                        "replacing their rows (after a change to the export)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / COVERAGE_FILE
    done = set()
    names = [zoo.get_entry(n).name for n in args.names] if args.names else zoo.list_models()
    if path.exists():
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            rows, header = list(reader), reader.fieldnames
        if args.again:  # a row made before a change to the export no longer says what it does now
            rows = [r for r in rows if not (r["name"] in names and r["format"] in args.formats)]
        if args.again or header != COVERAGE_COLUMNS:  # a file from before a column was added gets it, empty
            with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, COVERAGE_COLUMNS)
                writer.writeheader()
                writer.writerows(rows)
        done = {(r["name"], r["format"]) for r in rows}
    else:
        atomic_write(path, ",".join(COVERAGE_COLUMNS) + "\n")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            for fmt in args.formats:
                if (name, fmt) in done:
                    continue
                row = coverage_row(name, fmt, Path(tmp))
                print(f"{name} {fmt}: {row['status']} {row['relative_diff'] or row['reason'][:160]} ({row['export_s']} s)",
                      flush=True)
                with open(path, "a", newline="") as f:  # one row at a time: a killed run keeps what it finished
                    csv.DictWriter(f, COVERAGE_COLUMNS).writerow(row)
    write_report(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
