"""GFLOPs and parameter counts of zoo entries, measured with fvcore at the published test input.

Every figure comes from :class:`fvcore.nn.FlopCountAnalysis` (FLOPs) and
:func:`fvcore.nn.parameter_count` (params) on one view of the entry's published test input:
``num_frames`` frames at ``crop_size`` x ``crop_size``; for SlowFast both pathways
``[slow, fast]`` (slow = every ``alpha``-th frame of the fast clip); for the AVA detectors the
clip plus one box covering the frame. No FLOP formula is written here.

"FLOPs" is not one thing: fvcore counts one FLOP per multiply-add, skips element-wise ops,
pooling and activations, and counts a BatchNorm as 2 FLOPs per element in eval mode but 5 in
training mode. The published columns were produced under more than one of these settings, so
each entry names its **counting convention** in the catalogue (``flops_convention`` in
``zoo/catalog/*.toml``; :data:`DEFAULT_CONVENTION` where absent). :data:`CONVENTIONS` defines
them; the generated table prints the legend beside the figures.

Results are cached per entry (see :func:`cache_key`) under ``results/.cache/complexity/``
(beside the tables: ``<out>/.cache/complexity/``; override with ``--cache-dir`` or
``$VIDEOZOO_COMPLEXITY_CACHE``), so a second run of the whole zoo is
near-instant; ``--no-cache`` re-measures.

Example:
    >>> from benchmarks.complexity import measure
    >>> row = measure("x3d_xs")  # doctest: +SKIP
    >>> row["gflops"], row["gflops_published"], row["params_m"]  # doctest: +SKIP
    (0.9146, 0.91, 3.79)

    (The example is skipped when the docstrings are tested: it takes a second on CPU.)

Command line::

    zoo complexity x3d_xs c2d_r50        # some entries
    zoo complexity --all --out results   # the whole zoo -> results/complexity.{csv,md}
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import re
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from benchmarks.runtime.files import atomic_write

#: Bump when the stored measurement changes meaning (invalidates every cached entry).
CACHE_FORMAT = 2


@dataclass(frozen=True)
class Convention:
    """How FLOPs are counted: the model's mode and which fvcore op handles are dropped."""

    key: str
    #: ``"train"``: count the model as a builder returns it, before ``.eval()``; ``"eval"``: after.
    model_mode: str
    #: fvcore op names whose FLOP handle is removed (their FLOPs are not counted).
    skip_ops: tuple[str, ...]
    description: str


#: Every counting convention an entry may name. Common to all: fvcore 0.1.5's default op
#: handles (convolution, linear, matmul, einsum: one FLOP per multiply-add; norms; pooling,
#: activations and element-wise ops are not counted) on one view of the entry's test input;
#: attention is traced as its two matrix products (see :func:`explicit_attention`).
CONVENTIONS: dict[str, Convention] = {
    c.key: c
    for c in (
        Convention(
            "fvcore-train",
            "train",
            (),
            "fvcore defaults on the model in training mode (as built, before .eval()): "
            "BatchNorm counted as 5 FLOPs/element (fvcore's training-mode rule); LayerNorm 5 in either mode",
        ),
        Convention(
            "fvcore-eval",
            "eval",
            (),
            "fvcore defaults on the model in eval mode: BatchNorm counted as 2 FLOPs/element (scale and shift)",
        ),
        Convention(
            "fvcore-nobn",
            "eval",
            ("aten::batch_norm",),
            "fvcore defaults in eval mode with BatchNorm not counted (as if folded into the convolutions)",
        ),
        Convention(
            "fvcore-nonorm",
            "eval",
            ("aten::batch_norm", "aten::group_norm", "aten::layer_norm", "aten::instance_norm"),
            "fvcore defaults in eval mode with no normalisation counted (BatchNorm, LayerNorm, GroupNorm): "
            "multiply-adds of convolutions, linear layers and matrix products only -- torchvision's `_ops` "
            "(pytorch/vision PR #6936, on a 16-frame clip)",
        ),
    )
}

#: Convention of entries whose catalogue record names none.
DEFAULT_CONVENTION = "fvcore-train"
#: The "naive" count shown beside each figure: what a plain FlopCountAnalysis(model.eval()) gives.
NAIVE_CONVENTION = "fvcore-eval"

#: Columns of complexity.csv, in order.
COLUMNS = [
    "name",
    "arch",
    "depth",
    "dataset",
    "frames_x_rate",
    "frames",
    "sampling_rate",
    "crop_size",
    "views",
    "input",
    "gflops",
    "gflops_published",
    "gflops_rel_dev",
    "params_m",
    "params_m_published",
    "params_rel_dev",
    "convention",
    "gflops_naive",
    "gflops_naive_rel_dev",
    "gflops_test_input",
    "gflops_by_op",
    "status",
    "note",
]


# --------------------------------------------------------------------------------------------
# measuring one entry


def convention_of(entry) -> Convention:
    """The counting convention an entry names in the catalogue (``flops_convention``)."""
    key = entry.extra.get("flops_convention", DEFAULT_CONVENTION)
    try:
        return CONVENTIONS[key]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(key, list(CONVENTIONS), n=2)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"{entry.name}: unknown flops_convention {key!r} in zoo/catalog/{entry.dataset}.toml; "
            f"known: {', '.join(CONVENTIONS)}.{hint}"
        ) from None


def flops_input_frames(entry) -> int:
    """Frames of the clip the published GFLOPs were counted on: the test clip's, unless the
    catalogue says otherwise (``flops_input_frames``: torchvision counted every video model on
    16 frames, whatever its test clip)."""
    return int(entry.extra.get("flops_input_frames", entry.num_frames))


def example_inputs(entry, num_frames: int | None = None) -> tuple:
    """One view of the entry's published test input, as the positional arguments of ``forward``.

    ``num_frames`` replaces the test clip's length (see :func:`flops_input_frames`). Zeros are
    enough: FLOP counts depend on shapes only.
    """
    import torch

    clip = torch.zeros(1, 3, num_frames or entry.num_frames, entry.crop_size, entry.crop_size)
    if entry.arch == "slowfast":
        # num_frames is the fast pathway's clip; the slow pathway takes every alpha-th frame.
        clip = [clip[:, :, :: entry.alpha].contiguous(), clip]
    if entry.dataset == "ava":
        # AVA detectors score boxes: one box over the whole frame, [batch_index, x1, y1, x2, y2].
        side = float(entry.crop_size - 1)
        return clip, torch.tensor([[0.0, 0.0, 0.0, side, side]])
    return (clip,)


def describe_inputs(inputs: Sequence) -> str:
    """A short text of the input shapes, e.g. ``'[1x3x8x256x256, 1x3x32x256x256]'``."""

    def shape(x) -> str:
        if isinstance(x, (list, tuple)):
            return "[" + ", ".join(shape(t) for t in x) + "]"
        return "x".join(str(int(n)) for n in x.shape)

    return " + ".join(shape(x) for x in inputs)


def _math_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, **_):
    """softmax(q k^T * scale + mask) v written out, so fvcore sees its two matrix products."""
    import torch

    if is_causal or dropout_p:
        raise NotImplementedError("complexity: causal/dropout attention is not used by any zoo model")
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    weights = torch.matmul(query, key.transpose(-2, -1)) * scale
    if attn_mask is not None:
        weights = weights + attn_mask
    return torch.matmul(weights.softmax(dim=-1), value)


@contextlib.contextmanager
def explicit_attention() -> Iterator[None]:
    """Trace ``F.scaled_dot_product_attention`` as the matmuls it computes.

    fvcore has no handle for the fused attention op and would silently count it as 0; the
    published MViT figures count ``q @ k^T`` and ``attn @ v`` (the reference code writes them
    out). Swapping in the written-out form while tracing lets fvcore's own matmul handle count
    them; the model's own code is unchanged.
    """
    import torch.nn.functional as F

    fused = F.scaled_dot_product_attention
    F.scaled_dot_product_attention = _math_attention
    try:
        yield
    finally:
        F.scaled_dot_product_attention = fused


def count_flops(model, inputs: tuple, convention: Convention) -> dict[str, float]:
    """fvcore FLOPs of ``model(*inputs)`` under ``convention``, in GFLOPs per operator."""
    import torch
    from fvcore.nn import FlopCountAnalysis
    from fvcore.nn.flop_count import _DEFAULT_SUPPORTED_OPS

    was_training = model.training
    model.train(convention.model_mode == "train")
    try:
        with torch.no_grad(), explicit_attention():
            analysis = FlopCountAnalysis(model, inputs)
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            if convention.skip_ops:
                # set_op_handle(op, None) does not drop a default handle in fvcore 0.1.5 (the op is
                # marked ignored but its handle still counts), so reinstall the defaults without them.
                kept = {op: handle for op, handle in _DEFAULT_SUPPORTED_OPS.items() if op not in convention.skip_ops}
                analysis.clear_op_handles().set_op_handle(**kept)
            by_op = analysis.by_operator()
    finally:
        model.train(was_training)
    return {op: flops / 1e9 for op, flops in sorted(by_op.items())}


def measure(name: str, *, naive: bool = True, build: Callable | None = None) -> dict[str, Any]:
    """Measure one entry: GFLOPs (its convention), params, published figures, deviations.

    ``naive=True`` also counts with :data:`NAIVE_CONVENTION` (a second trace) so the table shows
    how far the plain count is from the published one. ``build(name)`` makes the model
    (default :func:`zoo.create_model`). Raises :class:`zoo.BuilderNotAvailableError` for an
    entry whose family has no builder yet.

    Example:
        >>> measure("c2d_r50")["gflops"]   # doctest: +SKIP
        25.8893
    """
    import zoo
    from fvcore.nn import parameter_count

    entry = zoo.get_entry(name)
    convention = convention_of(entry)
    model = (build or zoo.create_model)(entry.name)
    frames = flops_input_frames(entry)
    inputs = example_inputs(entry, frames)
    by_op = count_flops(model, inputs, convention)
    gflops = sum(by_op.values())
    params_m = parameter_count(model)[""] / 1e6
    row = _entry_columns(entry)
    row.update(
        input=describe_inputs(inputs),
        gflops=round(gflops, 4),
        params_m=round(params_m, 4),
        convention=convention.key,
        gflops_by_op=";".join(f"{op}={v:.4f}" for op, v in by_op.items() if v),
        gflops_test_input=round(gflops, 4),
    )
    if frames != entry.num_frames:
        # the published figure is for another clip length: count the real test clip too
        test_gflops = sum(count_flops(model, example_inputs(entry), convention).values())
        row["gflops_test_input"] = round(test_gflops, 4)
        said = f"published GFLOPs are for a {frames}-frame clip; the {entry.num_frames}-frame test clip costs {test_gflops:.2f} GFLOPs per view ({convention.key})"
        row["flops_note"] = " ".join(n for n in (row.get("flops_note"), said) if n)
    if naive:
        naive_gflops = gflops if convention.key == NAIVE_CONVENTION else sum(count_flops(model, inputs, CONVENTIONS[NAIVE_CONVENTION]).values())
        row["gflops_naive"] = round(naive_gflops, 4)
    return _with_verdict(row)


def _entry_columns(entry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "arch": entry.arch,
        "depth": entry.depth,
        "dataset": entry.dataset,
        "frames_x_rate": entry.frames_x_rate,
        "frames": entry.num_frames,
        "sampling_rate": entry.sampling_rate,
        "crop_size": entry.crop_size,
        "views": entry.views_label,
        "gflops_published": entry.gflops,
        "params_m_published": entry.params_m,
        "flops_note": entry.extra.get("flops_note", ""),
        "catalog_note": entry.note,
    }


def _rel_dev(measured, published) -> float | None:
    if measured is None or not published:
        return None
    return round(measured / published - 1.0, 6)


def _printed_match(measured: float, published: float) -> str | None:
    """How ``measured`` prints as ``published`` at 2 decimals: ``"rounded"``, ``"truncated"`` or None.

    A few published params were truncated rather than rounded (e.g. 34,045,558 printed as
    34.04); such a match is accepted but said so in the status.
    """
    if round(measured, 2) == round(published, 2):
        return "rounded"
    if math.floor(measured * 100 + 1e-9) / 100 == round(published, 2):
        return "truncated"
    return None


def _with_verdict(row: dict[str, Any]) -> dict[str, Any]:
    """Add deviations, a status (reproduced or not) and the note explaining a convention or a miss."""
    row["gflops_rel_dev"] = _rel_dev(row.get("gflops"), row["gflops_published"])
    row["params_rel_dev"] = _rel_dev(row.get("params_m"), row["params_m_published"])
    row["gflops_naive_rel_dev"] = _rel_dev(row.get("gflops_naive"), row["gflops_published"])
    checks = []
    if row["gflops_published"]:
        checks.append(("GFLOPs", _printed_match(row["gflops"], row["gflops_published"])))
    if row["params_m_published"]:
        checks.append(("params", _printed_match(row["params_m"], row["params_m_published"])))
    missed = [what for what, how in checks if how is None]
    truncated = [what for what, how in checks if how == "truncated"]
    if not checks:
        row["status"] = "nothing published to compare"
    elif missed:
        row["status"] = "differs: " + ", ".join(missed)
    elif not row["gflops_published"]:
        row["status"] = "reproduced params; no GFLOPs published"
    else:
        row["status"] = "reproduced"
    if truncated:
        row["status"] += f" ({', '.join(truncated)} published truncated, not rounded)"
    notes = [row.get("flops_note") or ""]
    if missed:  # the catalogue's note says why a published figure cannot be matched
        notes.append(row.get("catalog_note") or "")
    row["note"] = " ".join(n for n in notes if n)
    return row


# --------------------------------------------------------------------------------------------
# cache


def default_cache_dir(out_dir: str | os.PathLike | None = None) -> Path:
    """``$VIDEOZOO_COMPLEXITY_CACHE``, else ``<out_dir>/.cache/complexity`` (``results/`` by default).

    Beside the tables it describes and git-ignored (``results/.cache/``): deleting it is safe.
    """
    env = os.environ.get("VIDEOZOO_COMPLEXITY_CACHE")
    return Path(env) if env else Path(out_dir or "results") / ".cache" / "complexity"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def _builder_sources(entry) -> dict[str, str]:
    """sha256 of the builder's module and of every zoo.models module it imports (transitively).

    The package version does not change while builders are being written, so the code itself
    is part of the key: editing a builder re-measures its entries.
    """
    import importlib.util

    digests: dict[str, str] = {}
    todo = [entry.builder.partition(":")[0]]
    while todo:
        module = todo.pop()
        if module in digests:
            continue
        spec = importlib.util.find_spec(f"zoo.models.{module}")
        if spec is None or spec.origin is None:
            digests[module] = "missing"
            continue
        source = Path(spec.origin).read_bytes()
        digests[module] = hashlib.sha256(source).hexdigest()
        todo += [m.decode() for m in re.findall(rb"zoo\.models\.(\w+)", source)]
    return digests


def cache_key(entry, naive: bool = True) -> str:
    """A digest of everything the measurement depends on.

    The entry's fields (catalogue record, convention included), the convention's definition,
    the versions of torch, fvcore and videozoo, the builder's source, and :data:`CACHE_FORMAT`.
    """
    convention = convention_of(entry)
    payload = {
        "format": CACHE_FORMAT,
        "entry": entry.as_record(),
        "convention": asdict(convention),
        "naive": asdict(CONVENTIONS[NAIVE_CONVENTION]) if naive else None,
        "versions": {d: _version(d) for d in ("torch", "fvcore", "videozoo")},
        "builder_sources": _builder_sources(entry),
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _read_cache(path: Path, key: str) -> dict[str, Any] | None:
    try:
        stored = json.loads(path.read_text("utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return stored["row"] if stored.get("key") == key else None


def cached_measure(
    name: str,
    *,
    use_cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    naive: bool = True,
    build: Callable | None = None,
) -> dict[str, Any]:
    """:func:`measure`, answered from the per-entry cache when its key still matches.

    ``use_cache=False`` measures anew (and refreshes the cache). The row says where it came from
    in ``row["cached"]`` (not written to the CSV).
    """
    import zoo

    entry = zoo.get_entry(name)
    path = Path(cache_dir or default_cache_dir()) / f"{entry.name}.json"
    key = cache_key(entry, naive=naive)
    if use_cache:
        row = _read_cache(path, key)
        if row is not None:
            # deviations/status are recomputed so a changed verdict rule needs no re-measure
            return {**_with_verdict(row), "cached": True}
    started = time.perf_counter()
    row = measure(entry.name, naive=naive, build=build)
    row["measure_s"] = round(time.perf_counter() - started, 2)
    atomic_write(path, json.dumps({"key": key, "row": row}, indent=1, sort_keys=True) + "\n")
    return {**row, "cached": False}


# --------------------------------------------------------------------------------------------
# the whole zoo -> complexity.csv / complexity.md


def _unavailable_row(entry, reason: str) -> dict[str, Any]:
    row = _entry_columns(entry)
    row.update(convention=convention_of(entry).key, status=reason, note=row["flops_note"])
    return row


def run(
    names: Sequence[str] | None = None,
    out_dir: str | os.PathLike | None = "results",
    use_cache: bool = True,
    *,
    cache_dir: str | os.PathLike | None = None,
    naive: bool = True,
    progress: bool = True,
    build: Callable | None = None,
):
    """Measure ``names`` (default: every catalogued entry) and write the tables.

    Entries whose family has no builder yet get a row saying so. Writes ``complexity.csv`` and
    ``complexity.md`` into ``out_dir`` (atomically; ``None`` writes nothing) and returns the
    rows as a :class:`pandas.DataFrame` with :data:`COLUMNS` (plus ``cached``).

    Example:
        >>> df = run(["x3d_xs", "c2d_r50"], out_dir=None)   # doctest: +SKIP
        >>> df[["name", "gflops", "gflops_published"]].values.tolist()  # doctest: +SKIP
        [['x3d_xs_4x12_kinetics400', 0.9146, 0.91], ['c2d_r50_8x8_kinetics400', 25.8893, 25.89]]
    """
    import pandas as pd
    from tqdm.auto import tqdm

    import zoo

    entries = [zoo.get_entry(n) for n in names] if names else zoo.all_entries()
    rows = []
    bar = tqdm(entries, desc="complexity", unit="model", disable=not progress)
    for entry in bar:
        bar.set_postfix_str(entry.name)
        try:
            rows.append(
                cached_measure(
                    entry.name, use_cache=use_cache, cache_dir=cache_dir or default_cache_dir(out_dir), naive=naive, build=build
                )
            )
        except zoo.BuilderNotAvailableError:
            rows.append(_unavailable_row(entry, "no builder yet"))
    if names and out_dir is not None:
        rows = _with_earlier_rows(rows, Path(out_dir) / "complexity.csv")
    frame = pd.DataFrame(rows)
    for column in COLUMNS + ["cached"]:
        if column not in frame:
            frame[column] = None
    frame = frame[COLUMNS + ["cached"]]
    if out_dir is not None:
        write_tables(frame, out_dir)
    return frame


def _with_earlier_rows(rows: list[dict[str, Any]], csv_path: Path) -> list[dict[str, Any]]:
    """``rows`` plus the rows of other catalogued entries already in ``csv_path``, in catalogue order.

    Measuring a few entries (``zoo complexity NAME ...``) updates their rows of an existing table
    instead of replacing the table with them.
    """
    import pandas as pd

    import zoo

    if not csv_path.is_file():
        return rows
    measured = {r["name"] for r in rows}
    earlier = {}
    for record in pd.read_csv(csv_path).to_dict("records"):
        record = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()}
        if record["name"] not in measured:
            if record.get("gflops_test_input") is None:  # tables written before the column: measured at the test clip
                record["gflops_test_input"] = record.get("gflops")
            earlier[record["name"]] = record
    order = {name: i for i, name in enumerate(e.name for e in zoo.all_entries())}
    merged = [r for name, r in earlier.items() if name in order] + rows
    return sorted(merged, key=lambda r: order.get(r["name"], len(order)))


def _fmt(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if spec == ".2f" and 0 < abs(value) < 0.1:  # the demo's 0.0148 GFLOPs is not 0.01
        return format(value, ".3g")
    return format(value, spec)


def markdown(frame) -> str:
    """The Markdown report: measured beside published, deviations, conventions legend."""
    from tabulate import tabulate

    headers = [
        "name",
        "frames x rate",
        "input (one view)",
        "views",
        "GFLOPs",
        "published",
        "dev",
        "naive GFLOPs",
        "naive dev",
        "GFLOPs, test clip",
        "params (M)",
        "published",
        "dev",
        "convention",
        "status",
    ]
    body = []
    for r in frame.to_dict("records"):
        body.append(
            [
                r["name"],
                r["frames_x_rate"],
                r["input"] if isinstance(r["input"], str) else "-",
                r["views"],
                _fmt(r["gflops"], ".2f"),
                _fmt(r["gflops_published"], ".2f") if r["gflops_published"] else "-",
                _fmt(r["gflops_rel_dev"], "+.2%"),
                _fmt(r["gflops_naive"], ".2f"),
                _fmt(r["gflops_naive_rel_dev"], "+.2%"),
                _fmt(r.get("gflops_test_input"), ".2f"),
                _fmt(r["params_m"], ".2f"),
                _fmt(r["params_m_published"], ".2f"),
                _fmt(r["params_rel_dev"], "+.2%"),
                r["convention"],
                r["status"],
            ]
        )
    published = frame[frame["gflops_published"].fillna(0) > 0]
    reproduced = published[published["status"].fillna("").str.startswith("reproduced")]
    flops_ok = published[[_printed_match(g, p) is not None for g, p in zip(published["gflops"].fillna(-1), published["gflops_published"])]]
    summary = (
        f"Published GFLOPs reproduced at 2 decimals: **{len(flops_ok)} of {len(published)}** entries with a published figure "
        f"({len(reproduced)} with params too). Entries without a builder: {int((frame['status'] == 'no builder yet').sum())}."
    )
    legend = "\n".join(f"- `{c.key}`: {c.description}." for c in CONVENTIONS.values())
    notes = [
        f"- **{r['name']}**: {r['note']}" for r in frame.to_dict("records") if isinstance(r.get("note"), str) and r["note"]
    ]
    parts = [
        "# Complexity: measured vs published GFLOPs and params",
        "",
        "Generated by `zoo complexity` (benchmarks/complexity.py); do not edit by hand.",
        "FLOPs: `fvcore.nn.FlopCountAnalysis` on one view of each entry's published test input",
        "(GFLOPs per view; multiply by the views for a video). Params: `fvcore.nn.parameter_count`.",
        "`dev` = measured / published - 1; `reproduced` means equal at the published precision",
        "(2 decimals). `naive` = a plain count (`fvcore-eval`), shown to size the convention's effect.",
        "`GFLOPs, test clip` = per view at the clip the accuracy was measured on, where the published",
        "figure was counted on another (torchvision's `_ops`: 16 frames for every video model).",
        "AVA detectors are counted with one box (the RoI head's cost grows with the number of boxes).",
        "",
        summary,
        "",
        tabulate(body, headers=headers, tablefmt="github", disable_numparse=True),
        "",
        "## Counting conventions",
        "",
        "Each entry names its convention in the catalogue (`flops_convention` in zoo/catalog/*.toml).",
        "Common to all: fvcore's default op handles (convolution, linear, matmul, einsum: one FLOP",
        "per multiply-add; pooling, activations and element-wise ops are not counted); fused",
        "attention is traced as its two matmuls.",
        "",
        legend,
    ]
    if notes:
        parts += ["", "## Notes", "", *notes]
    return "\n".join(parts) + "\n"


def write_tables(frame, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``complexity.csv`` and ``complexity.md`` into ``out_dir`` atomically."""
    out = Path(out_dir)
    csv_path, md_path = out / "complexity.csv", out / "complexity.md"
    atomic_write(csv_path, frame[COLUMNS].to_csv(index=False))
    atomic_write(md_path, markdown(frame))
    return csv_path, md_path


# --------------------------------------------------------------------------------------------
# CLI


def _cmd_complexity(args: argparse.Namespace) -> int:
    import zoo

    if not args.names and not args.all:
        print("zoo complexity: name entries or pass --all (see `zoo list`)")
        return 2
    names = None if args.all else [zoo.get_entry(n).name for n in args.names]
    started = time.perf_counter()
    frame = run(names, out_dir=args.out, use_cache=not args.no_cache, cache_dir=args.cache_dir, naive=not args.no_naive)
    elapsed = time.perf_counter() - started
    # The table keeps the other entries already in OUT; the screen shows only what this run measured.
    measured = frame if names is None else frame[frame["name"].isin(names)]
    shown = measured[["name", "gflops", "gflops_published", "params_m", "params_m_published", "convention", "status"]]
    print(shown.to_string(index=False))
    cached = int(measured["cached"].fillna(False).astype(bool).sum())
    kept = len(frame) - len(measured)
    kept_note = f"; the table keeps {kept} other {'entry' if kept == 1 else 'entries'} already there" if kept else ""
    print(
        f"{len(measured)} {'entry' if len(measured) == 1 else 'entries'} ({cached} from cache) in {elapsed:.1f}s -> {Path(args.out) / 'complexity.csv'}, "
        f"complexity.md{kept_note}"
    )
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``zoo complexity [NAMES...] [--all] [--out DIR] [--no-cache]``."""
    p = subparsers.add_parser(
        "complexity",
        help="measure GFLOPs and params with fvcore, beside the published figures",
        description="Measure GFLOPs (fvcore, per view, at the published test input) and params; "
        "write complexity.csv and complexity.md.",
    )
    p.add_argument("names", nargs="*", help="canonical names or aliases")
    p.add_argument("--all", action="store_true", help="every catalogued entry")
    p.add_argument("--out", default="results", help="output directory (default: results/)")
    p.add_argument("--no-cache", action="store_true", help="re-measure even when a cached result matches")
    p.add_argument("--cache-dir", default=None, help="cache directory (default: OUT/.cache/complexity)")
    p.add_argument("--no-naive", action="store_true", help="skip the second, plain (eval-mode) count")
    p.set_defaults(func=_cmd_complexity)
    return p
