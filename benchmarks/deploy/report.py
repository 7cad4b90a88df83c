"""``results/deploy.md``: the runtimes' latency table, the coverage matrix, and a plot.

Two measurements feed it, each into its own CSV (appended row by row, so either resumes):
``zoo speed --runtime ...`` (:mod:`benchmarks.deploy.speed`, ``deploy_latency.csv``) and
``python -m benchmarks.perf.deploy_coverage`` (``deploy_coverage.csv``), and the demo model's
accuracy per runtime, ``python -m benchmarks.perf.deploy_demo`` (``deploy_demo.csv``). :func:`write_report`
regenerates the Markdown, ``deploy.csv`` (the latency rows) and
``deploy_latency_vs_top1.png`` from both.

Example:
    >>> import tempfile
    >>> out = write_report(tempfile.mkdtemp())  # no measurements yet: the tables say so
    >>> "no latency measured yet" in out.read_text()
    True
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from tabulate import tabulate

from benchmarks.runtime.files import atomic_write
from zoo.deploy.layout import PER_FRAME_MAX_FRAMES

COVERAGE_FILE = "deploy_coverage.csv"
COVERAGE_COLUMNS = ["name", "format", "status", "max_abs_diff", "relative_diff", "file_mb", "export_s", "reason",
                    "layout"]
LATENCY_FILE = "deploy_latency.csv"
LATENCY_COLUMNS = ["name", "runtime", "threads", "median_ms", "p90_ms", "load_s", "file_mb", "peak_mb", "clip_s",
                   "realtime_factor", "vs_reference", "vs_eager", "vs_vanilla", "top1_published", "machine", "command",
                   "note"]
DEMO_FILE = "deploy_demo.csv"
DEMO_COLUMNS = ["runtime", "top1", "top5", "videos", "calibration", "wall_s", "command"]
REPORT = "deploy.md"
PLOT = "deploy_latency_vs_top1.png"


def read_rows(path) -> list[dict]:
    """The rows of one of the CSVs (none when it does not exist yet)."""
    if not Path(path).exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def replace_rows(path, columns: list[str], rows: list[dict], key) -> list[dict]:
    """Write the CSV at ``path`` (atomically) as its old rows whose ``key(row)`` none of ``rows``
    has, then ``rows``: a measurement made again replaces its old rows, others stay. Returns
    every row written.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = replace_rows(path, ["name", "ms"], [{"name": "a", "ms": 1}, {"name": "b", "ms": 2}], lambda r: r["name"])
        >>> [(r["name"], r["ms"]) for r in replace_rows(path, ["name", "ms"], [{"name": "a", "ms": 3}], lambda r: r["name"])]
        [('b', '2'), ('a', 3)]
    """
    keys = {key(r) for r in rows}
    rows = [r for r in read_rows(path) if key(r) not in keys] + rows
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, text.getvalue())
    return rows


def latency_table(rows: list[dict]) -> str:
    """Markdown: one row per entry x runtime x threads."""
    if not rows:
        return "_no latency measured yet (`zoo speed NAMES --runtime eager,fast,onnx,executorch,int8`)_\n"
    headers = ["entry", "runtime", "threads", "median ms", "p90 ms", "x reference", "x eager", "x vanilla X3D",
               "real-time factor", "load s", "file MB", "RSS growth in a call, MB"]
    body = [[r["name"], r["runtime"], r["threads"], r["median_ms"], r["p90_ms"], r["vs_reference"] or "-",
             r["vs_eager"] or "-", r.get("vs_vanilla") or "-", r["realtime_factor"], r["load_s"] or "-",
             r["file_mb"] or "-", r["peak_mb"] or "-"] for r in rows]
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True) + "\n"


def coverage_table(rows: list[dict]) -> str:
    """Markdown: entry x runtime, ``ok (relative max diff)`` or the failure with its reason."""
    if not rows:
        return "_no coverage measured yet (`python -m benchmarks.perf.deploy_coverage`)_\n"
    formats = sorted({r["format"] for r in rows})
    cells: dict[str, dict[str, str]] = {}
    for r in rows:
        if r["status"] == "ok":
            # the file's layout where it is per frame (rows from before the layout was recorded: frames)
            text = f"ok ({r['relative_diff']}{', per frame' if r.get('layout') == 'per-frame' else ''})"
        else:
            text = f"{r['status']}: {r['reason']}".replace("|", "/")
        cells.setdefault(r["name"], {})[r["format"]] = text
    import zoo

    names = [e.name for e in zoo.all_entries()]  # every entry, measured or not, in catalogue order
    names += [n for n in cells if n not in names]
    body = [[name, *[cells.get(name, {}).get(f, "-") for f in formats]] for name in names]
    return tabulate(body, headers=["entry", *formats], tablefmt="github", disable_numparse=True) + "\n"


def by_machine(rows: list[dict]) -> dict[str, list[dict]]:
    """Latency rows grouped by the machine they were measured on, the machine of the latest rows
    (the CSV's last) last; rows written before ``zoo speed`` recorded the machine: under ``""``.

    Example:
        >>> list(by_machine([{"machine": "A"}, {"machine": "B"}, {"machine": "A"}]))
        ['B', 'A']
    """
    groups: dict[str, list[dict]] = {}
    last: dict[str, int] = {}
    for i, r in enumerate(rows):
        groups.setdefault(r.get("machine") or "", []).append(r)
        last[r.get("machine") or ""] = i
    return {m: groups[m] for m in sorted(groups, key=last.get)}


def accelerator_figures(name: str = "efficient_x3d_xs") -> dict:
    """The accelerator's published phone figures for an efficient X3D entry (the catalogue's
    ``latency_ms_*``): ``{"fp32_ms", "int8_ms", "vanilla_ms", "fp32_x", "int8_x", "device"}``, the
    ``_x`` the speed-ups over the vanilla X3D; ``{}`` for an entry without them.

    Example:
        >>> figures = accelerator_figures()
        >>> figures["fp32_ms"], figures["vanilla_ms"], round(figures["fp32_x"], 1), round(figures["int8_x"], 1)
        (233, 1067, 4.6, 6.5)
    """
    import zoo

    extra = zoo.get_entry(name).extra
    if "latency_ms_vanilla_fp32" not in extra:
        return {}
    fp32, int8, vanilla = extra["latency_ms_fp32"], extra["latency_ms_int8"], extra["latency_ms_vanilla_fp32"]
    return {"fp32_ms": fp32, "int8_ms": int8, "vanilla_ms": vanilla, "fp32_x": vanilla / fp32,
            "int8_x": vanilla / int8, "device": extra.get("latency_device", "")}


def targets(rows: list[dict], threads: str = "1") -> list[str]:
    """The issue's latency targets for one machine's rows, an entry per line: the best exported fp32
    file (ONNX Runtime, of the 3D model or the 2D rewrite, or ExecuTorch) against ``zoo.optimize`` (``fast``; target: at least as fast),
    the best int8 file against the best exported fp32 (target: 2x), and the efficient X3D's against
    PyTorchVideo's vanilla X3D (the accelerator's published 4.6x fp32, 6.5x int8).

    Example:
        >>> rows = [{"name": "x3d_xs", "runtime": r, "threads": "1", "median_ms": m, "vs_vanilla": ""}
        ...         for r, m in [("fast", "20.0"), ("onnx", "40.0"), ("executorch", "19.0"), ("executorch-int8", "10.0")]]
        >>> print(targets(rows)[0])
        x3d_xs, 1 thread: best exported fp32 executorch 19.0 ms, 1.05x `fast` (20.0 ms; target >= 1x: **met**); best int8 executorch-int8 10.0 ms, 1.90x the exported fp32 (target >= 2x: **not met**)
        >>> rows += [{"name": "x3d_xs", "runtime": "onnx-2d", "threads": "1", "median_ms": "18.0", "vs_vanilla": ""}]
        >>> targets(rows)[0].split(", 1.11x")[0]  # the 2D rewrite's ONNX file counts as exported fp32 too
        'x3d_xs, 1 thread: best exported fp32 onnx-2d 18.0 ms'
    """
    out = []
    for name in dict.fromkeys(r["name"] for r in rows):
        mine = {r["runtime"]: r for r in rows if r["name"] == name and r["threads"] == threads}

        def best(runtimes):
            found = [mine[k] for k in runtimes if k in mine]
            return min(found, key=lambda r: float(r["median_ms"])) if found else None

        fp32 = best(["onnx", "onnx-2d", "executorch", "executorch-frames"])
        int8, fast = best(["onnx-int8", "onnx-2d-int8", "executorch-int8"]), mine.get("fast")
        if fp32 is None:
            continue
        ms = {k: float(r["median_ms"]) for k, r in mine.items()}
        parts = [f"best exported fp32 {fp32['runtime']} {ms[fp32['runtime']]:.1f} ms"]
        if fast:
            ratio = ms["fast"] / ms[fp32["runtime"]]
            parts[-1] += (f", {ratio:.2f}x `fast` ({ms['fast']:.1f} ms; target >= 1x: "
                          + ("**met**" if ratio >= 1 else "**not met**") + ")")
        if int8:
            ratio = ms[fp32["runtime"]] / ms[int8["runtime"]]
            parts.append(f"best int8 {int8['runtime']} {ms[int8['runtime']]:.1f} ms, {ratio:.2f}x the exported fp32 "
                         "(target >= 2x: " + ("**met**" if ratio >= 2 else "**not met**") + ")")
        vanilla = [f"{r['runtime']} {r['vs_vanilla']}x" for r in (fp32, int8) if r and r.get("vs_vanilla")]
        published = accelerator_figures()
        if vanilla and published:
            parts.append("against PyTorchVideo's vanilla X3D: " + ", ".join(vanilla) + f" (the accelerator's "
                         f"{published['fp32_x']:.1f}x fp32, {published['int8_x']:.1f}x int8)")
        out.append(f"{name}, {threads} thread: " + "; ".join(parts))
    return out


def plot_latency_vs_top1(rows: list[dict], path) -> Path | None:
    """Published top-1 against latency (1 thread), one marker per runtime, for the machine measured
    last (latencies of two machines on one axis would mislead); None without rows."""
    machine = list(by_machine(rows))[-1] if rows else ""
    points = [r for r in rows if r["threads"] == "1" and r["top1_published"] and (r.get("machine") or "") == machine]
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for runtime in dict.fromkeys(r["runtime"] for r in points):
        mine = [r for r in points if r["runtime"] == runtime]
        ax.scatter([float(r["median_ms"]) for r in mine], [float(r["top1_published"]) for r in mine], label=runtime, s=50)
        for r in mine:
            ax.annotate(r["name"].split("_kinetics")[0], (float(r["median_ms"]), float(r["top1_published"])),
                        fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel(f"latency per clip, batch 1, 1 thread (ms, log scale; {machine or 'machine not recorded'})")
    ax.set_ylabel("published Kinetics-400 top-1 (%)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def write_report(out) -> Path:
    """Regenerate ``deploy.md``, ``deploy.csv`` and the plot in ``out`` from the two CSVs."""
    out = Path(out)
    latency = read_rows(out / LATENCY_FILE)
    coverage = read_rows(out / COVERAGE_FILE)
    lines = ["<!-- Generated by benchmarks.deploy.report from deploy_latency.csv and deploy_coverage.csv -->",
             "# Deployment: runtimes, latency and coverage", ""]
    lines += ["## Latency per clip (batch 1, CPU)", ""]
    figures = accelerator_figures()  # the catalogue's efficient X3D-XS: always there
    lines += ["Median and p90 of interleaved repetitions; `x reference` is PyTorchVideo's eager model measured in "
              "the same run (same weights, same input), all variants interleaved round by round, so other load on the "
              "machine slows them alike but widens the p90; the real-time factor is the clip's seconds "
              "(frames x rate / 30 fps) over the latency; `x vanilla X3D` (efficient X3D rows) is against PyTorchVideo's "
              "vanilla X3D of the same depth, the comparison of the accelerator's published "
              f"{figures['fp32_x']:.1f}x (fp32) and {figures['int8_x']:.1f}x (int8) for X3D-XS (PyTorchVideo's "
              f"`accelerator` module: efficient X3D-XS {figures['fp32_ms']} ms fp32 and {figures['int8_ms']} ms int8 "
              f"against {figures['vanilla_ms']} ms for the vanilla model on a phone's ARM CPU; {figures['device']}). "
              "A section per machine, the "
              "one measured last at the end: the same files run at different speeds, and in a different order, on "
              "different CPUs, so a target can be met on one machine and not on another (why, operator by operator: "
              "[the per-operator profile](deploy_ops.md)). Latencies here are one clip at batch 1 after warm-up; "
              "`speed.md` measures clips/s of other batches and settings, so its figures are not these. "
              f"`executorch` is `zoo export`'s file, in its default layout (fp32 clips of up to {PER_FRAME_MAX_FRAMES} "
              "frames: one tensor "
              "per frame where the frames are large, since 2026-12-05; rows measured before then: one batch of "
              "frames), `executorch-frames` the one-batch layout, measured beside it; `executorch-int8` is in the "
              "one-batch layout; `onnx-2d` is the ONNX file of the 2D rewrite (one batch of frames). ONNX Runtime "
              "sessions no longer spin between calls since 2026-12-05: before, at 2 threads, their spinning threads "
              "slowed whichever runtime was timed next.", ""]
    if not latency:
        lines += [latency_table(latency)]
    for machine, rows in by_machine(latency).items():
        lines += [f"### Machine: {machine or 'not recorded'}", ""]
        commands = sorted({r["command"] for r in rows if r.get("command")})
        lines += [f"Command: `{c}`" for c in commands] + ([""] if commands else [])
        if not machine:
            lines += ["Measured before `zoo speed` recorded the machine in its rows.", ""]
        lines += [f"- {t}" for t in targets(rows)] + [""] + [latency_table(rows)]
    if plot_latency_vs_top1(latency, out / PLOT):
        lines += [f"![published top-1 against latency]({PLOT})", ""]
    demo = read_rows(out / DEMO_FILE)
    if demo:
        lines += ["## Accuracy of the exported demo model (harness-measured, 5x3 views, 100 held-out videos)", "",
                  "`zoo evaluate --artifact` runs each file under the same protocol, aggregation and metrics as the "
                  "eager model (`python -m benchmarks.perf.deploy_demo`; int8 calibrated on training videos).", "",
                  tabulate([[r["runtime"], r["top1"], r["top5"], r["videos"], r["calibration"] or "-"] for r in demo],
                           headers=["runtime", "top-1", "top-5", "videos", "int8 calibration"], tablefmt="github",
                           disable_numparse=True), ""]
    lines += ["## Coverage: every entry x runtime", "",
              "`zoo.export` at the entry's test clip (random weights, BatchNorm statistics randomised), run by the "
              "runtime and compared with the eager model: `ok` with max |exported - eager| over the output's scale, "
              "or what failed and why; `-`: not measured yet (resumable: `python -m benchmarks.perf.deploy_coverage "
              "[NAMES]` adds the missing rows). ExecuTorch: *per frame* marks a file holding the clip as one tensor "
              f"per frame (fp32's default for clips of up to {PER_FRAME_MAX_FRAMES} frames, `zoo.deploy.layout.default_layout`); the "
              "others hold it as one batch of frames (clips of more frames, and the rows measured before the "
              "per-frame layout existed).", "",
              coverage_table(coverage)]
    atomic_write(out / REPORT, "\n".join(lines))
    if latency:
        text = io.StringIO()
        writer = csv.DictWriter(text, LATENCY_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(latency)
        atomic_write(out / "deploy.csv", text.getvalue())
    return out / REPORT
