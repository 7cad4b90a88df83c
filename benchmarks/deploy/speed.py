"""``zoo speed --runtime ...``: one clip's latency on each runtime, beside PyTorchVideo's eager model.

For each entry, at its test clip, batch 1, with the same random weights (BatchNorm statistics
randomised) in every variant:

- ``reference``: PyTorchVideo's own model (where it builds; measured in the same run);
- ``eager``: our model as built; ``fast``: :func:`zoo.optimize` (BN folding, torch.compile);
- ``onnx`` / ``executorch``: :func:`zoo.export` to that runtime, run through
  :class:`zoo.deploy.artifact.ArtifactModel`; ``onnx-2d``: the ONNX file of the 2D rewrite
  (``zoo export --format onnx --rewrite-2d``: the frames layout's 2D convolutions, which ONNX
  Runtime runs in its NCHWc layout, where it runs 3D convolutions on its generic path);
  ``executorch`` in :func:`zoo.export`'s default layout (fp32 clips of few frames: one tensor
  per frame where the frames are large, :func:`zoo.deploy.layout.default_layout`),
  ``executorch-frames`` in the frames layout throughout (``zoo export --layout frames``, fp32
  only: the layout the per-frame one replaced, measured beside it);
  ``int8`` adds the int8 file of each of those listed with it (``onnx-int8``,
  ``onnx-2d-int8``, ``executorch-int8``; alone it adds none), calibrated on
  ``--calibration-video`` files through the entry's test protocol (random clips when none are
  given: latency only, the manifest says so).

Each thread count (``--runtime-threads``, default ``1,all``) times the variants interleaved
(``--reps`` rounds, median and p90), after one warm-up call each; also the load time (building
or loading the file), the file size, the peak memory growth of a call and the real-time factor
(clip seconds over latency). The names are entries, aliases or patterns as for the plain
``zoo speed`` (default: ``x3d_xs`` and ``efficient_x3d_xs``). Rows go to ``deploy_latency.csv``
in ``--out`` (default ``results``) and :mod:`benchmarks.deploy.report` rewrites ``deploy.md``,
``deploy.csv`` and the latency plot beside it.
"""

from __future__ import annotations

import csv
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.deploy.report import LATENCY_COLUMNS, LATENCY_FILE, read_rows, write_report
from benchmarks.references import PeakMemory, build_reference, randomize_norm_stats
from benchmarks.runtime import cpus

RUNTIMES = ("reference", "eager", "fast", "onnx", "onnx-2d", "executorch", "executorch-frames", "int8")

#: The exported runtimes: name -> (:func:`zoo.export` format, the 2D rewrite, layout (None: the
#: default), file suffix).
EXPORTED = {"onnx": ("onnx", False, None, ".onnx"), "onnx-2d": ("onnx", True, None, ".onnx"),
            "executorch": ("executorch", True, None, ".pte"),
            "executorch-frames": ("executorch", True, "frames", ".pte")}
#: Exported runtimes without an int8 file (``executorch-int8`` is in int8's default layout, frames).
FP32_ONLY = ("executorch-frames",)

#: The entries measured when ``zoo speed --runtime`` names none: the X3D-XS pair the runtimes were tuned on.
DEFAULT_NAMES = ("x3d_xs", "efficient_x3d_xs")

TARGET_FPS = 30.0  # the clip's seconds: frames x rate at the rate the protocols resample to


def set_threads(count: int) -> None:
    """Torch's and ExecuTorch's XNNPACK thread pools to ``count`` (ONNX Runtime's is per session)."""
    torch.set_num_threads(count)
    try:
        from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool  # its only public knob

        _unsafe_reset_threadpool(count)
    except ImportError:
        pass


def build_variants(name: str, runtimes: list[str], workdir: Path, calibration=()) -> tuple[dict, dict]:
    """``({variant: (module, load_s)}, {variant: exported file})`` for one entry (see the module
    docstring); the files are loaded per thread count by :func:`load_files`."""
    import zoo
    from zoo.fast import example_input

    entry = zoo.get_entry(name)
    torch.manual_seed(0)
    ours = randomize_norm_stats(zoo.create_model(entry.name)).eval()
    example = example_input(ours)
    modules: dict = {}
    if "reference" in runtimes:
        start = time.perf_counter()
        reference = build_reference(entry)
        if reference is not None:
            missing, unexpected = reference.load_state_dict(ours.state_dict(), strict=False)
            if not (missing or unexpected):  # the same weights, so the same arithmetic
                modules["reference"] = (reference.eval(), time.perf_counter() - start)
        if entry.arch == "efficient_x3d":
            # the accelerator's claim is against vanilla X3D: PyTorchVideo's X3D of the same depth
            # (its own random weights; the same FLOPs but for the head's pooling)
            vanilla = build_reference(zoo.get_entry(f"x3d_{entry.depth}"))
            if vanilla is not None:
                modules["reference-vanilla-x3d"] = (randomize_norm_stats(vanilla).eval(), 0.0)
    if "eager" in runtimes:
        modules["eager"] = (ours, 0.0)
    if "fast" in runtimes:
        start = time.perf_counter()
        copy = zoo.create_model(entry.name)
        copy.load_state_dict(ours.state_dict())
        modules["fast"] = (zoo.optimize(copy.eval(), example), time.perf_counter() - start)
    files: dict = {}
    for runtime in (r for r in EXPORTED if r in runtimes):
        fmt, rewrite_2d, layout, suffix = EXPORTED[runtime]
        for int8 in ([False, True] if "int8" in runtimes and runtime not in FP32_ONLY else [False]):
            label = runtime + ("-int8" if int8 else "")
            path = workdir / f"{entry.name}_{label}{suffix}"
            cal = list(calibration) or [example + 0.05 * torch.randn_like(example) for _ in range(8)]
            zoo.export(ours, path, format=fmt, int8=int8, calibration=cal if int8 else (), rewrite_2d=rewrite_2d,
                       layout=layout)
            files[label] = path
    return modules, files


def load_files(files: dict, threads: int) -> dict:
    """``{variant: (ArtifactModel, load_s, file_mb)}``, each session with ``threads`` threads."""
    from zoo.deploy.artifact import load_artifact

    loaded = {}
    for label, path in files.items():
        start = time.perf_counter()
        model = load_artifact(path, threads=threads)
        loaded[label] = (model, time.perf_counter() - start, path.stat().st_size / 1e6)
    return loaded


def time_variants(variants: dict, example, reps: int) -> dict[str, tuple[float, float, float]]:
    """``{variant: (median_s, p90_s, peak_mb)}``, the variants interleaved round by round."""
    times: dict[str, list[float]] = {k: [] for k in variants}
    peaks: dict[str, float] = {}
    args = example if isinstance(example, tuple) else (example,)
    with torch.inference_mode():
        for key, (model, _, _) in variants.items():
            with PeakMemory("cpu") as peak:
                model(*args)  # warm-up (and the peak memory of a call)
            peaks[key] = peak.peak_mb
        for _ in range(reps):
            for key, (model, _, _) in variants.items():
                start = time.perf_counter()
                model(*args)
                times[key].append(time.perf_counter() - start)
    result = {}
    for key, values in times.items():
        ordered = sorted(values)
        result[key] = (statistics.median(values), ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], peaks[key])
    return result


def measure(name: str, runtimes: list[str], thread_counts: list[int], reps: int, command: str,
            calibration=(), log=print, machine: str = "") -> list[dict]:
    """The latency rows of one entry (every variant at every thread count); ``machine``: what
    the rows say they were measured on."""
    import zoo
    from zoo.fast import example_input

    entry = zoo.get_entry(name)
    clip_s = entry.num_frames * entry.sampling_rate / TARGET_FPS
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        modules, files = build_variants(entry.name, runtimes, Path(tmp), calibration)
        example = example_input(entry)  # the entry's test clip, as the files were exported for
        for threads in thread_counts:
            set_threads(threads)
            variants = {k: (m, load_s, None) for k, (m, load_s) in modules.items()} | load_files(files, threads)
            timed = time_variants(variants, example, reps)
            ref = timed.get("reference", (None,))[0]
            eager = timed.get("eager", (None,))[0]
            vanilla = timed.get("reference-vanilla-x3d", (None,))[0]
            for key, (median, p90, peak) in timed.items():
                _, load_s, file_mb = variants[key]
                rows.append({
                    "name": entry.name, "runtime": key, "threads": threads, "median_ms": f"{median * 1e3:.1f}",
                    "p90_ms": f"{p90 * 1e3:.1f}", "load_s": f"{load_s:.2f}" if load_s else "",
                    "file_mb": f"{file_mb:.1f}" if file_mb else "", "peak_mb": f"{peak:.0f}", "clip_s": f"{clip_s:.2f}",
                    "realtime_factor": f"{clip_s / median:.1f}", "vs_reference": f"{ref / median:.2f}" if ref else "",
                    "vs_eager": f"{eager / median:.2f}" if eager else "",
                    "vs_vanilla": f"{vanilla / median:.2f}" if vanilla else "",
                    "top1_published": entry.published.get("top1", ""), "machine": machine, "command": command,
                    "note": "",
                })
                log(f"{entry.name} {key} {threads} thread(s): {median * 1e3:.1f} ms"
                    + (f" ({ref / median:.2f}x reference)" if ref else ""))
    return rows


def run(args) -> int:
    """``zoo speed NAMES --runtime ...`` (called by :mod:`benchmarks.speed`)."""
    import zoo
    from benchmarks.references import expand_names

    runtimes = [r.strip() for r in args.runtime.split(",") if r.strip()]
    unknown = [r for r in runtimes if r not in RUNTIMES]
    if unknown:
        raise SystemExit(f"zoo speed: unknown runtime {', '.join(unknown)} (known: {', '.join(RUNTIMES)})")
    if "reference" not in runtimes:
        runtimes.insert(0, "reference")  # always measured in the same run: the ratios are against it
    counts = [os.cpu_count() or 1 if t == "all" else int(t) for t in args.runtime_threads.split(",")]
    try:
        names = expand_names(args.names or DEFAULT_NAMES)
    except zoo.UnknownModelError as err:  # the registry's message suggests close names
        print(f"zoo speed: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / LATENCY_FILE
    machine = f"{cpus.machine()}, torch {torch.__version__}"
    # a new measurement replaces the entry's rows of the same machine; other machines' rows stay
    kept = [r for r in read_rows(path) if not (r["name"] in names and r.get("machine") == machine)]
    rows = list(kept)
    for name in names:
        rows += measure(name, runtimes, counts, args.reps, args.command_line, calibration=args.calibration_video or (),
                        machine=machine)
        _write(path, rows)  # after each entry: a killed run keeps what it finished
    report = write_report(out)
    print(f"zoo speed: {path} and {report}")
    return 0


def _write(path: Path, rows: list[dict]) -> None:
    from benchmarks.runtime.files import atomic_path

    with atomic_path(path, suffix=".csv") as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, LATENCY_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
