"""Where an ExecuTorch file spends its time, per XNNPACK operator kind, fp32 beside int8.

An entry is exported by :func:`zoo.export` to ExecuTorch (XNNPACK delegate) in fp32 and int8
with the model preparation of ``zoo speed --runtime executorch,int8``
(:func:`benchmarks.deploy.speed.build_variants`: random weights, BatchNorm statistics
randomised, int8 calibrated on ``--calibration-video`` files through the entry's test protocol,
or on 8 noisy copies of the test clip when none are given). Each file is run ``--runs`` times
at one XNNPACK thread with ExecuTorch's event tracer on (ETDump) and read back with
``executorch.devtools.Inspector``: every XNNPACK operator's time is its minimum over the runs,
and the operators are summed per kind (the name XNNPACK gives them, less layout and data type:
``Convolution (NHWC, QC8) DWConv #3`` is a depthwise convolution in either precision). Beside
them: the delegate calls' own time (the ops plus the delegate's overhead) and what runs
outside the delegate (ExecuTorch's portable kernels), and a line saying which kinds keep int8
from going faster, computed from the figures.

Rows go to ``results/deploy_ops.csv`` (an entry's new rows replace its old ones of the same
machine: per-operator times differ by CPU) and the page
``results/deploy_ops.md`` is rewritten from all of them. Needs the ExecuTorch devtools
(``executorch.devtools``, in the ``videozoo[deploy]`` extra); without them the script says so and
exits with status 2. ``--pte-fp32`` / ``--pte-int8`` profile existing files (their manifests
give the input shape) instead of exporting.

Example:
    $ python -m benchmarks.perf.xnnpack_ops efficient_x3d_xs --runs 20 --out results

    >>> op_kind("Convolution (NHWC, QC8) DWConv #3"), op_kind("Fully Connected (NC, F32) GEMM #7")
    ('depthwise conv', 'pointwise conv / linear (GEMM)')
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from benchmarks.deploy.report import read_rows, replace_rows
from benchmarks.runtime.cpus import machine

CSV_FILE = "deploy_ops.csv"
REPORT = "deploy_ops.md"
COLUMNS = ["name", "kind", "fp32_ops", "fp32_ms", "int8_ops", "int8_ms", "fp32_over_int8", "xnnpack_names",
           "runs", "threads", "executorch", "machine", "command", "fp32_layout", "int8_layout"]
#: Rows that are not an operator kind (kept last in an entry's table).
SUM_OF_OPS, DELEGATE, OUTSIDE = "sum of XNNPACK ops", "delegate calls", "outside the delegate"

#: XNNPACK's operator names, less the layout and data type in brackets, as readable kinds.
KINDS = {
    "Convolution DWConv": "depthwise conv",
    "Convolution IGEMM": "conv (IGEMM)",
    "Convolution GEMM": "pointwise conv (GEMM)",
    "Fully Connected GEMM": "pointwise conv / linear (GEMM)",
    "Copy": "copy (concatenation)",
    "Slice": "slice",
    "Transpose": "transpose",
    "Constant Pad": "constant pad",
    "Add": "add",
    "Multiply": "multiply",
    "Sigmoid": "sigmoid",
    "Invalid Unary Op": "sigmoid",  # XNNPACK's int8 sigmoid (a lookup table) is profiled under this name
    "Clamp": "clamp",
    "Mean": "mean",
    "Mean Reduce2": "mean",
    "Static Reshape": "reshape",
    "Convert": "convert (quantize / dequantize)",
    "Average Pooling Average Pooling": "average pool",
    "Max Pooling": "max pool",
    "Divide": "divide",
    "Subtract": "subtract",
}


def op_kind(event_name: str) -> str:
    """The kind of one XNNPACK operator event (see :data:`KINDS`): ``"Add (ND) #5"`` -> ``"add"``."""
    base = re.sub(r"\s*\([^)]*\)", "", re.sub(r"\s*#\d+$", "", event_name)).strip()
    base = re.sub(r"\s+", " ", base)
    return KINDS.get(base, base)


def summarize(frame) -> dict:
    """One profile (``Inspector.to_dataframe()``: an event per row, ``min (ms)`` over the runs) as
    ``{"kinds": {kind: (count, ms, {xnnpack names})}, "ops_ms", "delegate_ms", "outside": {op: (count, ms)}}``.

    XNNPACK's operators are the delegated events with a ``#`` number; the delegate calls are the
    ``DELEGATE_CALL`` events; ``native_call_*`` events are ExecuTorch kernels run outside it.
    """
    names = frame["event_name"].astype(str)
    delegated = frame["is_delegated_op"].fillna(False).astype(bool) if "is_delegated_op" in frame else True
    ops = frame[delegated & names.str.contains("#", regex=False)]
    kinds: dict = {}
    for name, ms in zip(ops["event_name"].astype(str), ops["min (ms)"].astype(float)):
        kind = op_kind(name)
        count, total, raw = kinds.get(kind, (0, 0.0, set()))
        kinds[kind] = (count + 1, total + ms, raw | {re.sub(r"\s*#\d+$", "", name)})
    outside: dict = {}
    for name, ms in zip(names, frame["min (ms)"].astype(float)):
        if name.startswith("native_call_"):
            count, total = outside.get(name[len("native_call_"):], (0, 0.0))
            outside[name[len("native_call_"):]] = (count + 1, total + ms)
    return {"kinds": kinds, "ops_ms": sum(ms for _, ms, _ in kinds.values()),
            "delegate_ms": float(frame[names == "DELEGATE_CALL"]["min (ms)"].astype(float).sum()), "outside": outside}


def rows_of(name: str, fp32: dict, int8: dict, runs: int, threads: int, command: str,
            layouts: dict | None = None) -> list[dict]:
    """The CSV rows of one entry: a row per kind (by fp32 time, largest first), then the totals;
    ``layouts``: each file's layout (``{"fp32": "per-frame", "int8": "frames"}``, its manifest's)."""
    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if a and b else ""

    common = {"name": name, "runs": runs, "threads": threads, "executorch": _version("executorch") or "",
              "machine": machine(), "command": command,
              "fp32_layout": (layouts or {}).get("fp32") or "", "int8_layout": (layouts or {}).get("int8") or ""}
    kinds = sorted(set(fp32["kinds"]) | set(int8["kinds"]),
                   key=lambda k: (-fp32["kinds"].get(k, (0, 0.0))[1], -int8["kinds"].get(k, (0, 0.0))[1], k))
    rows = []
    for kind in kinds:
        a, b = fp32["kinds"].get(kind, (0, 0.0, set())), int8["kinds"].get(kind, (0, 0.0, set()))
        rows.append(common | {"kind": kind, "fp32_ops": a[0], "fp32_ms": f"{a[1]:.3f}", "int8_ops": b[0],
                              "int8_ms": f"{b[1]:.3f}", "fp32_over_int8": ratio(a[1], b[1]),
                              "xnnpack_names": "; ".join(sorted(a[2] | b[2]))})
    count = {p: sum(c for c, _, _ in x["kinds"].values()) for p, x in (("fp32", fp32), ("int8", int8))}
    rows.append(common | {"kind": SUM_OF_OPS, "fp32_ops": count["fp32"], "fp32_ms": f"{fp32['ops_ms']:.3f}",
                          "int8_ops": count["int8"], "int8_ms": f"{int8['ops_ms']:.3f}",
                          "fp32_over_int8": ratio(fp32["ops_ms"], int8["ops_ms"]), "xnnpack_names": ""})
    rows.append(common | {"kind": DELEGATE, "fp32_ops": "", "fp32_ms": f"{fp32['delegate_ms']:.3f}", "int8_ops": "",
                          "int8_ms": f"{int8['delegate_ms']:.3f}",
                          "fp32_over_int8": ratio(fp32["delegate_ms"], int8["delegate_ms"]), "xnnpack_names": ""})
    outside = {p: x["outside"] for p, x in (("fp32", fp32), ("int8", int8))}
    rows.append(common | {"kind": OUTSIDE, "fp32_ops": sum(c for c, _ in outside["fp32"].values()),
                          "fp32_ms": f"{sum(ms for _, ms in outside['fp32'].values()):.3f}",
                          "int8_ops": sum(c for c, _ in outside["int8"].values()),
                          "int8_ms": f"{sum(ms for _, ms in outside['int8'].values()):.3f}", "fp32_over_int8": "",
                          "xnnpack_names": "; ".join(sorted(set(outside["fp32"]) | set(outside["int8"])))})
    return rows


def explain(rows: list[dict], slow: float = 1.5) -> str:
    """What limits int8's speed-up, from one entry's rows: the kinds that gain less than ``slow``
    times, their share of int8's operator time, and what int8 would take had they gained as much
    as the kinds that do (their own fp32 time over that gain)."""
    kinds = [r for r in rows if r["kind"] not in (SUM_OF_OPS, DELEGATE, OUTSIDE)]
    total = {r["kind"]: r for r in rows if r["kind"] in (SUM_OF_OPS, DELEGATE)}
    f32, i8 = float(total[SUM_OF_OPS]["fp32_ms"]), float(total[SUM_OF_OPS]["int8_ms"])
    if not (f32 and i8):
        return "No XNNPACK operator was profiled in one of the two files."
    ms = {r["kind"]: (float(r["fp32_ms"]), float(r["int8_ms"])) for r in kinds}
    fast = {k: v for k, v in ms.items() if v[0] and v[1] and v[0] / v[1] >= slow}
    lagging = sorted(((k, v) for k, v in ms.items() if k not in fast and v[1] > 0), key=lambda kv: -kv[1][1])
    saved = sorted(ms.items(), key=lambda kv: -(kv[1][0] - kv[1][1]))[0]
    text = (f"int8 runs the XNNPACK operators {f32 / i8:.2f}x faster than fp32 ({f32:.2f} -> {i8:.2f} ms; the "
            f"delegate calls {float(total[DELEGATE]['fp32_ms']):.2f} -> {float(total[DELEGATE]['int8_ms']):.2f} ms). "
            f"Most of the saving is {saved[0]}: {saved[1][0]:.2f} -> {saved[1][1]:.2f} ms. ")
    if not lagging:
        return text + f"Every kind gains at least {slow}x."
    lag_ms = sum(v[1] for _, v in lagging)
    listed = ", ".join(f"{k} {v[0]:.2f} -> {v[1]:.2f} ms ({v[0] / v[1]:.2f}x)" if v[0] else f"{k} {v[1]:.2f} ms (int8 only)"
                       for k, v in lagging[:4])
    more = f" and {len(lagging) - 4} more" if len(lagging) > 4 else ""
    text += (f"What limits it: the kinds that gain less than {slow}x take {lag_ms:.2f} ms, {lag_ms / i8:.0%} of "
             f"int8's operator time: {listed}{more}")
    if fast:
        gain = sum(v[0] for v in fast.values()) / sum(v[1] for v in fast.values())
        ideal = sum(v[1] for v in fast.values()) + sum(v[0] / gain for _, v in lagging)
        text += (f". Had they gained the {gain:.2f}x of the other kinds, int8's operators would take {ideal:.2f} ms "
                 f"({f32 / ideal:.2f}x fp32)")
    return text + "."


def _key(row: dict) -> tuple[str, str, str]:
    # a section per entry, machine and fp32 layout: a profile of the per-frame file keeps the
    # one-batch file's beside it (rows without a layout were one batch of frames)
    return row["name"], row.get("machine") or "", row.get("fp32_layout") or "frames"


def markdown(rows: list[dict]) -> str:
    """The results page: a table and its explanation per entry and machine, in the CSV's order."""
    names = list(dict.fromkeys(_key(r) for r in rows))
    first = rows[0] if rows else {}
    lines = [f"<!-- Generated by benchmarks/perf/xnnpack_ops.py from {CSV_FILE}; do not edit. -->",
             "# ExecuTorch (XNNPACK): time per operator kind, fp32 and int8", "",
             "Each entry exported by `zoo.export` to ExecuTorch with the XNNPACK delegate, fp32 and int8, as "
             "`zoo speed --runtime executorch,int8` prepares it (random weights, BatchNorm statistics randomised; int8 "
             "calibrated as that command is), one clip at the entry's test size; profiled with ETDump "
             f"(`executorch.devtools.Inspector`) at {first.get('threads', 1)} XNNPACK thread, each operator's time the "
             "minimum over the runs, summed per kind (XNNPACK's operator name less its layout and data type). *fp32 / "
             "int8*: int8's speed-up. *Delegate calls*: the delegate's own time (its operators and overhead, a "
             "minimum of its own, so not the sum of the operators' minimums); *outside the delegate*: ExecuTorch "
             f"kernels that run on their own. ExecuTorch {first.get('executorch', '?')}; a section per entry and "
             "machine (rows without one: measured before the rows recorded it).", ""]
    for name, where, fp32_layout in names:
        mine = [r for r in rows if _key(r) == (name, where, fp32_layout)]
        recorded = bool(mine[0].get("fp32_layout"))
        layouts = (f"fp32 {fp32_layout}, int8 {mine[0].get('int8_layout') or 'frames'}" if recorded else
                   "one batch of frames, both (measured before the layout was recorded)")
        lines += [f"## {name}", "", f"Machine: {where or 'not recorded'}. Layout (`zoo export --layout`): {layouts}.", "",
                  f"Made by `{mine[0]['command']}` ({mine[0]['runs']} runs per file).", "",
                  "| operator kind | fp32 ops | fp32 ms | int8 ops | int8 ms | fp32 / int8 |", "|---|---:|---:|---:|---:|---:|"]
        for r in mine:
            label = f"**{r['kind']}**" if r["kind"] in (SUM_OF_OPS, DELEGATE) else r["kind"]
            if r["kind"] == OUTSIDE:
                label += f" ({r['xnnpack_names'] or 'none'})"
            ratio = f"{r['fp32_over_int8']}x" if r["fp32_over_int8"] else ""
            lines.append(f"| {label} | {r['fp32_ops']} | {r['fp32_ms']} | {r['int8_ops']} | {r['int8_ms']} | {ratio} |")
        lines += ["", explain(mine), ""]
    return "\n".join(lines)


def profile(path: Path, runs: int, threads: int = 1) -> dict:
    """:func:`summarize` of ``path`` run ``runs`` times at ``threads`` XNNPACK threads with ETDump."""
    import torch
    from executorch.devtools import Inspector
    from executorch.extension.pybindings import portable_lib

    portable_lib._unsafe_reset_threadpool(threads)
    module = portable_lib._load_for_executorch(str(path), enable_etdump=True, debug_buffer_size=0)
    shapes = json.loads(Path(str(path) + ".manifest.json").read_text())["inputs"]
    gen = torch.Generator().manual_seed(0)
    inputs = [torch.randn(*shape, generator=gen) for shape in shapes]
    for _ in range(runs):
        module.forward(inputs)
    with tempfile.TemporaryDirectory() as tmp:
        etdump = Path(tmp) / "profile.etdp"
        module.write_etdump_result_to_file(str(etdump))
        return summarize(Inspector(etdump_path=str(etdump)).to_dataframe())


def export_files(name: str, workdir: Path, calibration=()) -> tuple[Path, Path]:
    """The entry's fp32 and int8 ExecuTorch files, made as ``zoo speed --runtime executorch,int8`` makes them."""
    from benchmarks.deploy.speed import build_variants

    _, files = build_variants(name, ["executorch", "int8"], workdir, calibration)
    return files["executorch"], files["executorch-int8"]


def devtools_missing() -> str | None:
    """Why the profile cannot be taken here (the ExecuTorch devtools or ETDump missing), else None."""
    try:
        from executorch.devtools import Inspector  # noqa: F401
        from executorch.extension.pybindings import portable_lib  # noqa: F401
    except ImportError as err:
        return f"the ExecuTorch devtools are missing ({err}); pip install 'videozoo[deploy]'"
    return None


def write_results(out: Path, rows: list[dict]) -> Path:
    """``deploy_ops.csv`` (``rows``' entries replacing their old rows of the same machine) and
    ``deploy_ops.md``, atomically."""
    from benchmarks.runtime.files import atomic_write

    rows = replace_rows(out / CSV_FILE, COLUMNS, rows, _key)
    atomic_write(out / REPORT, markdown(rows))
    return out / REPORT


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf.xnnpack_ops", description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", default="efficient_x3d_xs", help="the zoo entry (default efficient_x3d_xs)")
    parser.add_argument("--runs", type=int, default=20, help="runs per file; each operator's time is its minimum")
    parser.add_argument("--threads", type=int, default=1, help="XNNPACK threads")
    parser.add_argument("--calibration-video", nargs="*", default=(), help="int8 calibration videos (default: noisy test clips)")
    parser.add_argument("--pte-fp32", help="profile this fp32 .pte (with its .manifest.json) instead of exporting")
    parser.add_argument("--pte-int8", help="profile this int8 .pte instead of exporting")
    parser.add_argument("--out", default="results")
    args = parser.parse_args(argv)
    missing = devtools_missing()
    if missing:
        print(f"xnnpack_ops: {missing}", file=sys.stderr)
        return 2
    import zoo

    given = args.pte_fp32 or args.pte_int8  # an existing file's manifest names its entry
    name = json.loads(Path(given + ".manifest.json").read_text())["entry"] if given else zoo.get_entry(args.name).name
    command = "python -m benchmarks.perf.xnnpack_ops " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = (Path(p) if p else None for p in (args.pte_fp32, args.pte_int8))
        if fp32 is None or int8 is None:
            made = export_files(name, Path(tmp), args.calibration_video)
            fp32, int8 = fp32 or made[0], int8 or made[1]
        profiles = {}
        for label, path in (("fp32", fp32), ("int8", int8)):
            profiles[label] = profile(path, args.runs, args.threads)
            print(f"{name} {label}: XNNPACK ops {profiles[label]['ops_ms']:.2f} ms, delegate "
                  f"{profiles[label]['delegate_ms']:.2f} ms", flush=True)
        layouts = {label: json.loads(Path(str(path) + ".manifest.json").read_text()).get("layout")
                   for label, path in (("fp32", fp32), ("int8", int8))}
    rows = rows_of(name, profiles["fp32"], profiles["int8"], args.runs, args.threads, command.strip(), layouts)
    report = write_results(Path(args.out), rows)
    print(explain(rows))
    print(f"xnnpack_ops: {Path(args.out) / CSV_FILE} and {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
