"""Does int8 pay for XNNPACK's depthwise convolutions on this CPU? Each depthwise shape of an entry, measured alone.

The per-operator profile (:mod:`benchmarks.perf.xnnpack_ops`) finds the depthwise convolutions
the kind that keeps an int8 ExecuTorch file from running 2x its fp32 one. This script asks
whether that is the operator itself or its place in the graph: it takes every depthwise 3D
convolution of an entry (random weights; its input shape from a forward pass at the entry's
test size), writes its spatial part as the frames layout runs it (a 2D depthwise convolution
of the clip's frames, ``(T, C, H, W)``), between two pointwise convolutions so that int8 runs
end to end, and exports that block to ExecuTorch (XNNPACK) three times:

- ``fp32``;
- ``int8``: the quantizer of ``zoo export --int8`` (:class:`zoo.deploy.xnnpack.Int8SigmoidQuantizer`);
- ``int8, depthwise fp32``: the same with the depthwise convolution left in float (a dequantize
  before it and a quantize after it), the mixed precision one would try if int8 depthwise
  convolutions were slow.

Every tap of the block reads all the clip's frames (the layout's outer taps read one fewer), so
the times are somewhat above the entry's own; the ratios are what the page is about.

Each file is profiled with ExecuTorch's event tracer at one XNNPACK thread
(:func:`benchmarks.perf.xnnpack_ops.profile`: an operator's time is its minimum over
``--runs``): the depthwise convolution's own time, and the whole block's delegate time. The
entry's total weighs each shape by the 2D convolutions it makes (one per temporal tap).
Calibration is on random clips: the kernels' speed does not depend on the scales.

Rows go to ``results/xnnpack_dwconv.csv`` (an entry's new rows replace its old ones of the same
machine) and the page ``results/xnnpack_dwconv.md`` is rewritten from all of them.

Example:
    $ python -m benchmarks.perf.xnnpack_dwconv efficient_x3d_xs --runs 50 --out results

    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv3d(3, 8, 1), nn.Conv3d(8, 8, (3, 3, 3), padding=1, groups=8))
    >>> depthwise_shapes(net, torch.zeros(1, 3, 4, 16, 16))
    [DepthwiseShape(channels=8, frames=4, height=16, width=16, kernel=3, stride=1, taps=3, count=1)]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

from benchmarks.deploy.report import read_rows, replace_rows
from benchmarks.runtime.cpus import machine

CSV_FILE = "xnnpack_dwconv.csv"
REPORT = "xnnpack_dwconv.md"
#: The three exports of each block (see the module docstring).
PRECISIONS = ("fp32", "int8", "int8, depthwise fp32")
COLUMNS = ["name", "channels", "frames", "height", "width", "kernel", "stride", "taps", "count",
           "dw_fp32_us", "dw_int8_us", "block_fp32_us", "block_int8_us", "block_mixed_us",
           "runs", "threads", "executorch", "machine", "command"]


@dataclass(frozen=True)
class DepthwiseShape:
    """One depthwise 3D convolution's shape: its input ``(1, channels, frames, height, width)``,
    its spatial kernel and stride, its temporal taps, and how many of the entry's convolutions
    have it."""

    channels: int
    frames: int
    height: int
    width: int
    kernel: int
    stride: int
    taps: int
    count: int = 1


def depthwise_shapes(model: nn.Module, clip: torch.Tensor) -> list[DepthwiseShape]:
    """Every depthwise ``Conv3d`` of ``model`` (groups = in = out channels, square spatial kernel
    and stride) that a forward pass of ``clip`` reaches, as :class:`DepthwiseShape`, the same
    shapes counted once, in the order first met."""
    seen: dict = {}

    def hook(conv, inputs, _output):
        _, channels, frames, height, width = inputs[0].shape
        shape = DepthwiseShape(channels, frames, height, width, conv.kernel_size[1], conv.stride[1], conv.kernel_size[0])
        seen[shape] = seen.get(shape, 0) + 1

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, nn.Conv3d) and m.groups == m.in_channels == m.out_channels > 1]
    try:
        with torch.no_grad():
            model.eval()(clip)
    finally:
        for handle in handles:
            handle.remove()
    return [DepthwiseShape(**{**asdict(s), "count": n}) for s, n in seen.items()]


class Block(nn.Module):
    """Pointwise, depthwise (the shape's spatial kernel and stride), pointwise: the depthwise
    convolution with int8 neighbours, as in an X3D block."""

    def __init__(self, shape: DepthwiseShape):
        super().__init__()
        c = shape.channels
        self.expand = nn.Conv2d(c, c, 1)
        self.depthwise = nn.Conv2d(c, c, shape.kernel, shape.stride, padding=shape.kernel // 2, groups=c)
        self.project = nn.Conv2d(c, c, 1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.project(self.depthwise(self.expand(frames)))


def _quantizer(precision: str):
    from zoo.deploy.xnnpack import Int8SigmoidQuantizer

    if precision == "int8":
        return Int8SigmoidQuantizer()

    class DepthwiseInFloat(Int8SigmoidQuantizer):
        """``zoo export --int8``'s quantizer, less its depthwise convolutions' annotations."""

        def annotate(self, model):
            model = super().annotate(model)
            for node in model.graph.nodes:
                groups = node.args[6] if node.target == torch.ops.aten.conv2d.default and len(node.args) > 6 else 1
                if groups > 1:
                    node.meta.pop("quantization_annotation", None)
            return model

    return DepthwiseInFloat()


def write_block(shape: DepthwiseShape, precision: str, path: Path) -> Path:
    """``path``: the ExecuTorch file of :class:`Block` for ``shape`` in ``precision`` (one of
    :data:`PRECISIONS`), with the manifest :func:`benchmarks.perf.xnnpack_ops.profile` reads."""
    from executorch.exir import to_edge_transform_and_lower
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from zoo.deploy.xnnpack import partitioner

    torch.manual_seed(0)
    block = Block(shape).eval()
    example = (torch.randn(shape.frames, shape.channels, shape.height, shape.width),)
    program = torch.export.export(block, example)
    if precision != "fp32":
        prepared = prepare_pt2e(program.module(), _quantizer(precision))
        with torch.no_grad():
            for _ in range(4):
                prepared(torch.randn_like(example[0]))
        program = torch.export.export(convert_pt2e(prepared), example)
    path.write_bytes(to_edge_transform_and_lower(program, partitioner=[partitioner()]).to_executorch().buffer)
    Path(str(path) + ".manifest.json").write_text(json.dumps({"inputs": [list(example[0].shape)]}))
    return path


def measure(shape: DepthwiseShape, runs: int, threads: int, workdir: Path) -> dict:
    """``{"dw_fp32_us", "dw_int8_us", "block_fp32_us", "block_int8_us", "block_mixed_us"}``: the
    depthwise operator's and the block's (delegate) time in each precision, in microseconds."""
    from benchmarks.perf.xnnpack_ops import profile

    times = {}
    for precision, key in zip(PRECISIONS, ("fp32", "int8", "mixed")):
        summary = profile(write_block(shape, precision, workdir / f"{key}.pte"), runs, threads)
        times[f"block_{key}_us"] = 1e3 * summary["delegate_ms"]
        if key != "mixed":
            times[f"dw_{key}_us"] = 1e3 * summary["kinds"].get("depthwise conv", (0, 0.0))[1]
    return times


def entry_totals(rows: list[dict]) -> dict:
    """One entry's rows summed as the entry runs them, each shape ``count`` x ``taps`` times: the
    frames layout makes a 3D depthwise convolution one 2D depthwise convolution per temporal tap,
    and in int8 each tap's output is quantized for the int8 add that sums the taps, so a file with
    its depthwise convolutions in fp32 dequantizes and quantizes around every tap, as the block
    does. ``{"convs", "dw_fp32_ms", "dw_int8_ms", "mixed_minus_int8_ms"}`` (the last: the blocks'
    difference, the cost of mixed precision over the entry)."""
    totals = {"convs": 0, "dw_fp32_ms": 0.0, "dw_int8_ms": 0.0, "mixed_minus_int8_ms": 0.0}
    for row in rows:
        weight = int(row["count"]) * int(row["taps"])
        totals["convs"] += weight
        totals["dw_fp32_ms"] += weight * float(row["dw_fp32_us"]) / 1e3
        totals["dw_int8_ms"] += weight * float(row["dw_int8_us"]) / 1e3
        totals["mixed_minus_int8_ms"] += weight * (float(row["block_mixed_us"]) - float(row["block_int8_us"])) / 1e3
    return totals


def explain(rows: list[dict]) -> str:
    """What one entry's rows say, in two sentences computed from them."""
    t = entry_totals(rows)
    slower = sum(1 for r in rows if float(r["dw_int8_us"]) > float(r["dw_fp32_us"]))
    mixed_faster = sum(1 for r in rows if float(r["block_mixed_us"]) < float(r["block_int8_us"]))
    mixed = t["mixed_minus_int8_ms"]
    return (f"Weighted as the entry runs them ({t['convs']} 2D depthwise convolutions, one per temporal tap), "
            f"int8 depthwise convolutions take {t['dw_int8_ms']:.2f} ms against fp32's {t['dw_fp32_ms']:.2f} "
            f"(fp32 / int8 {t['dw_fp32_ms'] / t['dw_int8_ms']:.2f}x); int8 is slower at {slower} of {len(rows)} shapes. "
            f"The block with its depthwise convolution in fp32 (a dequantize before it, a quantize after) is faster "
            f"than the int8 block at {mixed_faster} of {len(rows)} shapes; over the entry's taps, mixed precision "
            f"{'costs' if mixed > 0 else 'saves'} {abs(mixed):.2f} ms.")


def _key(row: dict) -> tuple[str, str]:
    return row["name"], row["machine"]


def markdown(rows: list[dict]) -> str:
    """The page: per entry and machine, a row per shape, then the explanation."""
    lines = ["<!-- Generated by benchmarks/perf/xnnpack_dwconv.py from xnnpack_dwconv.csv; do not edit. -->",
             "# ExecuTorch (XNNPACK): depthwise convolutions alone, fp32 against int8", "",
             "Each depthwise 3D convolution shape of the entry as the frames layout runs it (a 2D depthwise "
             "convolution of the clip's frames), between two pointwise convolutions, exported in fp32, int8, "
             "and int8 with the depthwise convolution in fp32; times in microseconds at one XNNPACK thread, "
             "each operator's minimum over the runs (`benchmarks/perf/xnnpack_dwconv.py`).", ""]
    groups: dict = {}
    for row in rows:
        groups.setdefault(_key(row), []).append(row)
    for (name, where), mine in groups.items():
        lines += [f"## {name}", "", f"Machine: {where}.", "",
                  f"Made by `{mine[0]['command']}` ({mine[0]['runs']} runs per file, ExecuTorch {mine[0]['executorch']}).", "",
                  "| channels | frames | H x W | kernel / stride | in the entry (convs x taps) | depthwise fp32 | "
                  "depthwise int8 | fp32 / int8 | block fp32 | block int8 | block int8, depthwise fp32 |",
                  "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in mine:
            ratio = float(r["dw_fp32_us"]) / float(r["dw_int8_us"])
            lines.append(f"| {r['channels']} | {r['frames']} | {r['height']} x {r['width']} | {r['kernel']} / {r['stride']} "
                         f"| {r['count']} x {r['taps']} | {float(r['dw_fp32_us']):.1f} | {float(r['dw_int8_us']):.1f} | "
                         f"{ratio:.2f}x | {float(r['block_fp32_us']):.1f} | {float(r['block_int8_us']):.1f} | "
                         f"{float(r['block_mixed_us']):.1f} |")
        lines += ["", explain(mine), ""]
    return "\n".join(lines)


def write_results(out: Path, rows: list[dict]) -> Path:
    """``xnnpack_dwconv.csv`` (``rows``' entries replacing their old rows of the same machine)
    and ``xnnpack_dwconv.md``, atomically."""
    from benchmarks.runtime.files import atomic_write

    rows = replace_rows(out / CSV_FILE, COLUMNS, rows, _key)
    atomic_write(out / REPORT, markdown(rows))
    return out / REPORT


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf.xnnpack_dwconv", description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", default="efficient_x3d_xs", help="the zoo entry (default efficient_x3d_xs)")
    parser.add_argument("--runs", type=int, default=50, help="runs per file; each operator's time is its minimum")
    parser.add_argument("--threads", type=int, default=1, help="XNNPACK threads")
    parser.add_argument("--out", default="results")
    args = parser.parse_args(argv)
    from benchmarks.perf.xnnpack_ops import devtools_missing

    missing = devtools_missing()
    if missing:
        print(f"xnnpack_dwconv: {missing}", file=sys.stderr)
        return 2
    import zoo

    entry = zoo.get_entry(args.name)
    clip = torch.zeros(1, 3, entry.num_frames, entry.crop_size, entry.crop_size)
    shapes = depthwise_shapes(zoo.create_model(entry.name), clip)
    if not shapes:
        print(f"xnnpack_dwconv: {entry.name} has no depthwise 3D convolution", file=sys.stderr)
        return 1
    command = "python -m benchmarks.perf.xnnpack_dwconv " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    common = {"name": entry.name, "runs": args.runs, "threads": args.threads,
              "executorch": metadata.version("executorch"), "machine": machine(), "command": command.strip()}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape in shapes:
            times = measure(shape, args.runs, args.threads, Path(tmp))
            rows.append(common | asdict(shape) | {k: f"{v:.1f}" for k, v in times.items()})
            print(f"{shape}: " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()), flush=True)
    report = write_results(Path(args.out), rows)
    print(explain(rows))
    print(f"xnnpack_dwconv: {Path(args.out) / CSV_FILE} and {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
