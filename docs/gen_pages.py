"""The site's generated pages: written at build time from the catalogue and ``results/``.

MkDocs loads this file as a hook (``mkdocs.yml``: ``hooks: [docs/gen_pages.py]``); nothing it
makes is stored in ``docs/``. Its parts:

- ``on_config``: the navigation's generated sections (the entries by dataset, the results
  tables, the API modules) are filled in where ``mkdocs.yml`` names their index page;
- ``on_files``: the pages themselves (:func:`generated_pages`): the zoo (every entry in one
  sortable, filterable table and the FLOPs-vs-accuracy plot), one page per entry, one per
  table of ``results/``, the CLI reference (from ``benchmarks.cli.build_parser()``) and one
  ``mkdocstrings`` page per public module of ``zoo`` and ``benchmarks``; the pictures of
  ``results/`` are copied under ``assets/results/``;
- ``on_page_markdown``: the guides' markers, ``<!-- zoo-cli: NAME -->`` (the help of ``zoo
  NAME``) and ``<!-- zoo-doc: MODULE -->`` (a module's docstring, read without importing it);
  a marker that ends in ``optional`` renders a note instead of failing when its command or
  module is not in this build.

Everything that a page shows is checked while it is made: an entry without a row where its
dataset's table should have one is listed as not measured, but a table that names an entry the
catalogue does not have, a missing ``results/`` file or a malformed row raises
:class:`GenerationError`, which fails the build. No model is built and no video decoded:
``import zoo`` reads the catalogue, ``benchmarks.cli`` only builds its parser.

``python docs/gen_pages.py OUT`` writes the generated pages into ``OUT`` to look at them.
"""

from __future__ import annotations

import argparse
import ast
import csv
import html
import io
import os
import re
import sys
from pathlib import Path
from typing import Any, Iterable

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"

if str(ROOT) not in sys.path:  # the hook runs with mkdocs' sys.path; the project is installed -e too
    sys.path.insert(0, str(ROOT))

#: Datasets in table order; each has ``results/<dataset>.csv`` and ``.md``.
DATASETS = ("kinetics400", "ssv2", "charades", "ava", "demo")
#: Every table of ``results/`` the site shows, in navigation order (path under results/ without .md).
RESULT_PAGES = (
    "kinetics400", "ssv2", "charades", "ava", "demo", "complexity", "protocols", "speed",
    "eval_throughput", "host_memory", "gpu/speed", "gpu/fast_ablation", "gpu/eval_throughput", "deploy", "deploy_ops",
    "xnnpack_dwconv", "finetune", "transfer_video_seed1/finetune", "transfer_video_seed1/amd_epyc/finetune",
    "cpu_amd_epyc/finetune", "cpu_amd_epyc_10_seeds/finetune", "gpu/finetune", "gpu/finetune_10_seeds/finetune", "train_throughput",
)
#: Their short titles in the navigation (a page's own title is its table's heading).
RESULT_TITLES = {
    "kinetics400": "Kinetics-400", "ssv2": "Something-Something V2", "charades": "Charades", "ava": "AVA",
    "demo": "Demo", "complexity": "Complexity", "protocols": "Test protocols", "speed": "Speed (CPU)",
    "eval_throughput": "Evaluation throughput", "host_memory": "Host memory", "gpu/speed": "Speed (GPU)",
    "gpu/fast_ablation": "Fast paths on GPU", "gpu/eval_throughput": "Evaluation throughput (GPU)",
    "deploy": "Deployment (runtimes, coverage)", "deploy_ops": "Deployment: time per operator",
    "xnnpack_dwconv": "Deployment: depthwise fp32 vs int8",
    "finetune": "Transfer learning", "transfer_video_seed1/finetune": "Transfer learning, another draw of videos",
    "transfer_video_seed1/amd_epyc/finetune": "Transfer learning, another draw of videos (AMD EPYC)",
    "cpu_amd_epyc/finetune": "Transfer learning (AMD EPYC)",
    "cpu_amd_epyc_10_seeds/finetune": "Transfer learning, 10 seeds (AMD EPYC)",
    "gpu/finetune": "Transfer learning (GPU)",
    "gpu/finetune_10_seeds/finetune": "Transfer learning, 10 seeds (GPU)", "train_throughput": "Training throughput",
}
PLOT = "kinetics400_flops_vs_top1.png"
#: Modules left out of the API reference: moved-module shims (they only forward, with a warning).
SHIM_MARKER = "moved_module("


class GenerationError(RuntimeError):
    """A generated page could not be made from the data (a missing or inconsistent table)."""


# --------------------------------------------------------------------------------------------
# reading results/


def read_table(path: Path) -> list[dict[str, str]]:
    """Rows of a ``results/`` CSV (``#`` comment lines skipped); a missing file is an error."""
    if not path.is_file():
        raise GenerationError(f"{path.relative_to(ROOT)} is missing: run `make run` (zoo benchmark) to write it")
    lines = [line for line in path.read_text("utf-8").splitlines() if not line.startswith("#")]
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    if not rows:
        raise GenerationError(f"{path.relative_to(ROOT)} has no rows")
    return rows


def _keyed(rows: list[dict[str, str]], key: str, path: Path, known: set[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for row in rows:
        name = row.get(key)
        if name is None:
            raise GenerationError(f"{path.relative_to(ROOT)} has no {key!r} column")
        if name not in known:
            raise GenerationError(
                f"{path.relative_to(ROOT)} names {name!r}, which the catalogue does not have: "
                "the table is stale (regenerate it: zoo tables / zoo complexity / zoo audit)"
            )
        if name in out:
            raise GenerationError(f"{path.relative_to(ROOT)} has two rows for {name!r}")
        out[name] = row
    return out


class Data:
    """The catalogue and every ``results/`` table a page uses, read once and cross-checked."""

    def __init__(self) -> None:
        import zoo
        from benchmarks import tables
        from benchmarks.complexity import CONVENTIONS, DEFAULT_CONVENTION
        from zoo.catalog import load_protocols
        from zoo.transforms import protocol_of

        self.entries = zoo.all_entries()
        self.names = {e.name for e in self.entries}
        self.protocols = load_protocols()
        self.protocol_of = protocol_of
        self.conventions = CONVENTIONS
        self.default_convention = DEFAULT_CONVENTION
        self.arch_names = tables.ARCH_NAMES
        self.pretrain_names = tables.PRETRAIN_NAMES
        self.dataset_titles = {d: tables.DATASET_TITLES.get(d, d) for d in DATASETS}
        self.dataset_titles["demo"] = "Demo (synthetic)"
        unknown = {e.dataset for e in self.entries} - set(DATASETS)
        if unknown:
            raise GenerationError(f"entries of datasets the site has no table for: {sorted(unknown)}")
        self.rows: dict[str, dict[str, str]] = {}
        for dataset in DATASETS:
            path = RESULTS / f"{dataset}.csv"
            for name, row in _keyed(read_table(path), "name", path, self.names).items():
                if self.entry(name).dataset != dataset:
                    raise GenerationError(f"{path.relative_to(ROOT)}: {name} is a {self.entry(name).dataset} entry")
                self.rows[name] = row
        path = RESULTS / "complexity.csv"
        self.complexity = _keyed(read_table(path), "name", path, self.names)
        path = RESULTS / "protocols.csv"
        self.audit = _keyed(read_table(path), "entry", path, self.names)
        self.speed: dict[str, list[dict[str, str]]] = {}
        for path in (RESULTS / "speed.csv", RESULTS / "gpu" / "speed.csv"):
            for row in read_table(path):
                if row.get("section") != "model":
                    continue
                if row["name"] not in self.names:
                    raise GenerationError(f"{path.relative_to(ROOT)} names {row['name']!r}, not in the catalogue")
                self.speed.setdefault(row["name"], []).append({**row, "table": path.relative_to(RESULTS).as_posix()})
        self.source_legend = _source_legend((ROOT / "zoo" / "catalog" / "protocols.toml").read_text("utf-8"))
        self.catalog_file = {}
        for toml in sorted((ROOT / "zoo" / "catalog").glob("*.toml")):
            for name in re.findall(r'^name\s*=\s*"([^"]+)"', toml.read_text("utf-8"), flags=re.M):
                self.catalog_file[name] = f"zoo/catalog/{toml.name}"

    def entry(self, name: str):
        return next(e for e in self.entries if e.name == name)

    def by_dataset(self) -> dict[str, list]:
        out: dict[str, list] = {d: [] for d in DATASETS}
        for e in self.entries:
            out[e.dataset].append(e)
        return {d: es for d, es in out.items() if es}


def _source_legend(text: str) -> dict[str, str]:
    """``protocols.toml``'s abbreviations for sources (``#   SF  = facebookresearch/SlowFast ...``)."""
    legend: dict[str, str] = {}
    last = None
    for line in text.splitlines():
        m = re.match(r"#\s{2,}([A-Z][A-Z-]*)\s*=\s*(.+)$", line)
        if m:
            last = m.group(1)
            legend[last] = m.group(2).strip()
        elif last and re.match(r"#\s{6,}\S", line):  # a wrapped legend line
            legend[last] += " " + line.lstrip("# ").strip()
        else:
            last = None
    return legend


# --------------------------------------------------------------------------------------------
# formatting


def esc(value: Any) -> str:
    """Text for a Markdown table cell or paragraph: no emphasis, links, HTML or cell breaks."""
    text = str(value)
    text = html.escape(text, quote=False)
    text = re.sub(r"([\\`*_\[\]|])", r"\\\1", text)
    return text.replace("\n", " ")


def code(value: Any) -> str:
    text = str(value).replace("|", "\\|")
    return f"`{text}`" if "`" not in text else f"`` {text} ``"


def missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() in ("", "-", "nan", "None")


def num(value: Any, digits: int = 2) -> str:
    if missing(value):
        return "-"
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        raise GenerationError(f"not a number: {value!r}") from None


def gflops_digits(value: Any) -> int:
    return 4 if not missing(value) and float(value) < 0.1 else 2


def project_path(url: str) -> str:
    """A catalogue url as shown: shipped checkpoints relative to the project root."""
    if "://" in url or not os.path.isabs(url):
        return url
    try:
        return Path(url).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return url


def family(data: Data, entry) -> str:
    name = data.arch_names.get(entry.arch, entry.arch)
    source = entry.extra.get("source", "pytorchvideo")
    return f"{name} ({source})" if source != "pytorchvideo" else name


def metric_names(entry) -> tuple[str, ...]:
    return ("map",) if entry.multilabel or entry.dataset in ("charades", "ava") else ("top1", "top5")


METRIC_TITLES = {"top1": "top-1 (%)", "top5": "top-5 (%)", "map": "mAP (%)"}


def md_table(header: list[str], rows: Iterable[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# the zoo and the entry pages


def _fast_speed(data: Data, name: str, device: str, dtype: str = "fp32", batch: str = "1") -> str:
    for row in data.speed.get(name, []):
        if row["device"] == device and row["dtype"] == dtype and row["batch"] == batch and not missing(row.get("fast_clips_s")):
            return num(row["fast_clips_s"], 2)
    return "-"


def zoo_page(data: Data) -> str:
    header = [
        "Entry", "Dataset", "Family", "Depth", "Pretrain", "Frames x rate",
        "Top-1", "Top-1 (ours)", "Top-5", "Top-5 (ours)", "mAP", "mAP (ours)",
        "GFLOPs x views", "GFLOPs (ours)", "Params (M)", "Params (M, ours)",
        "CPU clips/s (fast)", "GPU clips/s (fast, bf16)",
    ]
    rows = []
    for e in data.entries:
        r = data.rows.get(e.name, {})
        pub = e.published
        digits = gflops_digits(e.gflops if e.gflops is not None else r.get("gflops_measured"))
        gflops = f"{num(e.gflops, digits)} x {e.views_label}" if e.gflops is not None else f"- x {e.views_label}"
        rows.append([
            f"[{e.name}]({e.name}.md)",
            esc(data.dataset_titles[e.dataset]),
            esc(family(data, e)),
            esc(r.get("depth") or e.depth.upper()),
            esc(data.pretrain_names.get(e.pretrain, e.pretrain)),
            e.frames_x_rate,
            num(pub.get("top1")), num(r.get("top1_reproduced")),
            num(pub.get("top5")), num(r.get("top5_reproduced")),
            num(pub.get("map")), num(r.get("map_reproduced")),
            gflops, num(r.get("gflops_measured") or data.complexity.get(e.name, {}).get("gflops"), digits),
            num(e.params_m), num(r.get("params_m_measured") or data.complexity.get(e.name, {}).get("params_m")),
            _fast_speed(data, e.name, "cpu"),
            _fast_speed(data, e.name, "cuda", "bf16"),
        ])
    n = len(data.entries)
    plot = f"../assets/results/{PLOT}"
    if not (RESULTS / PLOT).is_file():
        raise GenerationError(f"results/{PLOT} is missing: run `make run`")
    measured = sum(1 for e in data.entries if any(not missing(data.rows.get(e.name, {}).get(f"{m}_reproduced")) for m in metric_names(e)))
    return f"""---
hide:
  - toc
---

# The zoo

Every catalogued entry ({n}), generated from the catalogue (`zoo/catalog/*.toml`: published
figures) and `results/` (what was measured here). Click a column header to sort (again to
reverse); type in the filter to keep the rows that contain every word (`x3d kinetics`,
`torchvision`, `ava`). Each name opens the entry's page: how to load it, its test protocol
with the source of every field, its figures, complexity, speed and checkpoint.

*(ours)*: reproduced accuracy (`zoo evaluate` / `zoo reproduce`; {measured} of {n} entries
evaluated on this project's machines, `-` = not run) and measured GFLOPs per view and params
(`zoo complexity`). GFLOPs x views: the published per-view cost x (crops x clips). Speed:
clips/s of our model with the fast paths (`zoo speed --fast`), batch 1, on a 2-core CPU
(fp32, 1 thread) and on one H200 GPU (bf16), where measured ([speed tables](../results/speed.md)).

<div class="zoo-filter-bar">
<input id="zoo-filter" class="md-input" type="search" placeholder="Filter the entries: x3d, ssv2, torchvision ..." aria-label="Filter the entries">
<span id="zoo-count" aria-live="polite"></span>
</div>

<div class="zoo-table" markdown="1">

{md_table(header, rows)}

</div>

## Accuracy against cost (Kinetics-400)

![Kinetics-400 top-1 against GFLOPs x views]({plot})

Published top-1 against the total inference cost per video (GFLOPs per view x views, log
scale), one marker per family; the dashed line is the Pareto front (no other entry is both
cheaper and more accurate). Reproduced top-1, where evaluated, is drawn hollow beside the
published point. Made by `zoo tables` (`results/{PLOT}`).
"""


def _built_by(e) -> str:
    module, function = e.builder.partition(":")[0], e.builder.partition(":")[2]
    if module == "torchvision_video":  # torchvision's own module tree; ours the weights' loading
        return f"Built by torchvision's own builder (through `zoo/models/{module}.py`, `{function}`)"
    return f"Built by our code (`zoo/models/{module}.py`, `{function}`)"


def _predict_line(e) -> str:
    if e.dataset == "ava":  # a detector scores person boxes: it refuses a video without them
        return ('result = zoo.predict(model, "clip.mp4", boxes="boxes.csv")  # rows: [video_id,]second,x1,y1,x2,y2 '
                "in [0, 1]; result.boxes: each box's best actions")
    return 'result = zoo.predict(model, "clip.mp4")  # this entry\'s own test protocol; result.top: best classes'


def article(name: str) -> str:
    """"A" or "An" before an architecture's name, as it is read: an acronym by its letters
    (an I3D, an X3D, an MViT, an R(2+1)D), a word by its sound (a SlowFast, an Efficient X3D)."""
    acronym = len(name) > 1 and (name[1].isupper() or name[1].isdigit() or name[1] == "(")
    return "An" if name[:1] in ("AEFHILMNORSX" if acronym else "AEIOU") else "A"


def _load_section(e) -> str:
    alias = e.aliases[0] if e.aliases else e.name
    hub_name = alias
    return f"""## Load it

```python
import torch, zoo

model = zoo.create_model("{e.name}", pretrained=True)  # our builder + the published checkpoint
model = torch.hub.load("path/to/videozoo", "{hub_name}", source="local", pretrained=True)
{_predict_line(e)}
```

```bash
zoo info {e.name}
zoo predict clip.mp4 --model {alias} --pretrained{' --boxes boxes.csv' if e.dataset == 'ava' else ''}
zoo evaluate {e.name} --pretrained{' --dataset ava' if e.dataset == 'ava' else ''} --annotations ANNOTATIONS --video-root VIDEOS --out runs/{e.name}
```

Names: `{e.name}`{''.join(f', `{a}`' for a in e.aliases)} (aliases work everywhere a name does).
See [use a model](../guides/use.md) and [predict on your video](../guides/predict.md).
"""


def _protocol_section(data: Data, e) -> str:
    protocol = data.protocol_of(e)
    name = e.extra.get("protocol", "kinetics")
    cat = data.catalog_file.get(e.name, f"zoo/catalog/{e.dataset}.toml")
    config = e.extra.get("config")
    from_config = f"{cat}, from {config}" if config else cat
    mean = ", ".join(f"{v:g}" for v in e.mean)
    std = ", ".join(f"{v:g}" for v in e.std)
    entry_rows = [
        ["frames (NUM_FRAMES)", code(e.num_frames), esc(from_config)],
        ["sampling rate (SAMPLING_RATE)", code(e.sampling_rate), esc(from_config)],
    ]
    if e.alpha:
        entry_rows.append(["SlowFast alpha (slow pathway: frames / alpha)", code(e.alpha), esc(from_config)])
    entry_rows += [
        ["short side (scale to)", code(e.side_size), esc(from_config)],
        ["crop size", code(e.crop_size), esc(from_config)],
        ["mean", code(mean), esc(from_config)],
        ["std", code(std), esc(from_config)],
        ["temporal clips", code(e.temporal_clips), esc(from_config)],
        ["spatial crops", code(e.spatial_crops), esc(from_config)],
    ]
    for key in sorted(k for k in e.extra if k.startswith("ava_") or k in ("resize_size", "head_activation", "ensemble_method")):
        entry_rows.append([esc(key), code(e.extra[key]), esc(cat)])
    fields = [k for k, v in protocol.items() if isinstance(v, dict)]
    if not fields:
        raise GenerationError(f"{e.name}: protocol {name!r} has no fields")
    rule_rows = []
    for key in fields:
        field = protocol[key]
        if "value" not in field or "source" not in field:
            raise GenerationError(f"protocol {name}.{key} lacks its value or source")
        rule_rows.append([esc(key.replace("_", " ")), code(field["value"]), esc(field["source"])])
    used = sorted({abbr for abbr in data.source_legend if any(re.search(rf"\b{re.escape(abbr)}\b", protocol[k]["source"]) for k in fields)})
    legend = "".join(f"\n- **{abbr}**: {esc(data.source_legend[abbr])}" for abbr in used)
    legend_text = f"\nSources abbreviated above:\n{legend}\n" if legend else ""
    audit = data.audit.get(e.name)
    audit_table = ""
    if audit:
        cols = [c for c in audit if c not in ("entry",)]
        audit_table = "\n\nThe audit row (`results/protocols.csv`, `zoo audit`; [all entries](../results/protocols.md)):\n\n" + md_table(
            [esc(c) for c in cols], [[esc(audit[c]) for c in cols]]
        )
    return f"""## Test protocol

How the views a published number was measured on are built; `zoo.transforms.InputSpec`
executes it, and `zoo info {e.name}` prints it. Protocol **`{name}`**
(`zoo/catalog/protocols.toml`): {esc(protocol.get('description', ''))}.

The entry's numbers:

{md_table(['field', 'value', 'source'], entry_rows)}

The protocol's rules:

{md_table(['field', 'value', 'source'], rule_rows)}
{legend_text}{audit_table}
"""


def _figures_section(data: Data, e) -> str:
    r = data.rows.get(e.name)
    rows = []
    for metric in metric_names(e):
        rows.append([METRIC_TITLES[metric], num(e.published.get(metric)), num((r or {}).get(f"{metric}_reproduced"))])
    if r and not missing(r.get("eval_videos")):
        evaluated = f"Ours: evaluated on {esc(r['eval_videos'])} videos ({code(r.get('eval_source', ''))})."
    else:
        evaluated = (
            "Ours: not evaluated on this project's machines (the published checkpoints and the "
            "validation data are not shipped): [reproduce it](../guides/reproduce.md)."
        )
    table = f"[{data.dataset_titles[e.dataset]} table](../results/{e.dataset}.md)"
    source = e.extra.get("source", "pytorchvideo")
    note = f"\n\n{esc(e.note)}" if e.note else ""
    return f"""## Accuracy

{md_table(['metric', 'published', 'ours'], rows)}

{_published_from(data, e, source)} {evaluated}
Row of the {table}.{note}
"""


def _published_from(data: Data, e, source: str) -> str:
    if e.dataset == "demo":  # the demo's figure is this project's own training run, not a peer's
        return ("Published: this project's own figure, measured when the demo model was trained "
                f"(`benchmarks/demo/train.py`, `benchmarks/demo/published.json`), in `{data.catalog_file.get(e.name, '')}`.")
    return f"Published: the {esc(source)} figure, from `{data.catalog_file.get(e.name, '')}`."


def _complexity_section(data: Data, e) -> str:
    c = data.complexity.get(e.name)
    key = e.extra.get("flops_convention", data.default_convention)
    if key not in data.conventions:
        raise GenerationError(f"{e.name}: unknown FLOPs convention {key!r}")
    convention = data.conventions[key].description
    digits = gflops_digits(e.gflops if e.gflops is not None else (c or {}).get("gflops"))
    total = f"{float(e.gflops) * e.views:.{digits}f}" if e.gflops is not None else "-"
    if not c:
        return f"""## Complexity

| | published | measured |
|---|---|---|
| GFLOPs per view | {num(e.gflops, digits)} | - |
| views (crops x clips) | {e.views_label} | |
| GFLOPs per video | {total} | |
| params (M) | {num(e.params_m)} | - |

Not measured yet (`results/complexity.csv` has no row: `zoo complexity {e.name}`). Convention
`{key}`: {esc(convention)}.
"""
    measured_total = f"{float(c['gflops']) * e.views:.{digits}f}" if not missing(c.get("gflops")) else "-"
    rows = [
        ["GFLOPs per view", num(e.gflops, digits), num(c.get("gflops"), digits)],
        ["views (crops x clips)", e.views_label, e.views_label],
        ["GFLOPs per video", total, measured_total],
        ["params (M)", num(e.params_m), num(c.get("params_m"))],
    ]
    if not missing(c.get("gflops_test_input")) and c.get("gflops_test_input") != c.get("gflops"):
        rows.append(["GFLOPs per view at the test clip", "", num(c["gflops_test_input"], digits)])
    extra = []
    if not missing(c.get("input")):
        extra.append(f"Input of one view: {code(c['input'])}.")
    if not missing(c.get("status")):
        extra.append(f"Status: {esc(c['status'])}.")
    if not missing(c.get("note")):
        extra.append(esc(c["note"]))
    if not missing(e.extra.get("flops_note")) and esc(e.extra["flops_note"]) not in extra:
        extra.append(esc(e.extra["flops_note"]))
    return f"""## Complexity

{md_table(['', 'published', 'measured'], rows)}

Convention `{key}`: {esc(convention)}. {' '.join(extra)}
Counted by `zoo complexity` (fvcore); [all entries](../results/complexity.md).
"""


SPEED_COLUMNS = [
    ("table", "table"), ("device", "device"), ("dtype", "dtype"), ("batch", "batch"), ("input", "input"),
    ("ref_clips_s", "reference clips/s"), ("ours_clips_s", "ours clips/s"), ("fast_clips_s", "ours fast clips/s"),
    ("fast_ratio", "fast / reference"), ("fast_paths", "fast paths"), ("gpu", "GPU"), ("threads", "threads"),
]


def _speed_section(data: Data, e) -> str:
    rows = data.speed.get(e.name, [])
    if not rows:
        return f"""## Speed

Not measured (`zoo speed {e.name} --fast`); see [speed](../guides/speed.md).
"""
    body = []
    for row in rows:
        body.append([num(row[k]) if k.endswith(("_clips_s", "_ratio")) else esc(row.get(k, "")) for k, _ in SPEED_COLUMNS])
    return f"""## Speed

Clips per second of one view, our model beside the reference (PyTorchVideo / torchvision) in
one process, same input and threads, interleaved repetitions, median (`zoo speed`; tables:
[CPU](../results/speed.md), [GPU](../results/gpu/speed.md)):

{md_table([t for _, t in SPEED_COLUMNS], body)}
"""


def _checkpoint_section(e) -> str:
    url = project_path(e.url)
    if "://" in url:
        where = f"<{url}>"
    else:
        where = f"`{url}` (shipped with the project)"
    if e.sha256 and len(e.sha256) == 64:
        sha = f"`{e.sha256}` (checked on download and load)"
    elif e.sha256:
        sha = f"prefix `{e.sha256}` (the file name's; checked on download)"
    else:
        sha = "not catalogued (the published file has none)"
    return f"""## Checkpoint

- URL: {where}
- sha256: {sha}
- Cached under `$TORCH_HOME/hub/checkpoints`; `VIDEOZOO_OFFLINE=1` uses the cache only.
"""


def entry_page(data: Data, e) -> str:
    title = f"{family(data, e)} {(data.rows.get(e.name, {}).get('depth') or e.depth.upper())} {e.frames_x_rate}"
    pub = ", ".join(f"{METRIC_TITLES[m].split(' ')[0]} {e.published[m]:g}" for m in metric_names(e) if m in e.published)
    kind = "action detector (scores person boxes at keyframes)" if e.dataset == "ava" else (
        "multi-label classifier" if e.multilabel else "video classifier")
    pretrain = data.pretrain_names.get(e.pretrain, e.pretrain)
    pre = f", pre-trained on {esc(pretrain)}" if e.pretrain not in ("-", "", None) else ""
    config = e.extra.get("config")
    return f"""# {esc(title)} &middot; {esc(data.dataset_titles[e.dataset])}

`{e.name}` &middot; {esc(family(data, e))} &middot; [the zoo](index.md)

{article(data.arch_names.get(e.arch, e.arch))} {esc(data.arch_names.get(e.arch, e.arch))} {esc(e.depth.upper())} {kind} for
{esc(data.dataset_titles[e.dataset])} ({e.num_classes} classes{pre}): clips of {e.frames_x_rate}
(frames x sample rate), tested on {e.views_label} views (crops x clips); published {pub or 'no accuracy'},
{e.params_m:g} M params. {_built_by(e)}, loading the published checkpoint unchanged.{f' Config: {code(config)}.' if config else ''}

{_load_section(e)}
{_protocol_section(data, e)}
{_figures_section(data, e)}
{_complexity_section(data, e)}
{_speed_section(data, e)}
{_checkpoint_section(e)}"""


# --------------------------------------------------------------------------------------------
# results/ tables

_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")


def fix_links(text: str, source: Path, page: str, pages: dict[str, str]) -> str:
    """Relative links of a ``results/`` file rewritten for the site: to a published table's page
    or a copied picture; a link to anything else (a file of the repository) becomes code."""

    def repl(m: re.Match) -> str:
        bang, label, target = m.groups()
        if re.match(r"^[a-z]+://|^#|^mailto:", target):
            return m.group(0)
        path, _, anchor = target.partition("#")
        resolved = (source.parent / path).resolve()
        try:
            rel = resolved.relative_to(RESULTS).as_posix()
        except ValueError:
            rel = None
        depth = page.count("/")
        up = "../" * depth
        if rel and rel.endswith(".md") and f"results/{rel}" in pages:
            return f"{bang}[{label}]({up}results/{rel}{'#' + anchor if anchor else ''})"
        if rel and rel.endswith(".png") and resolved.is_file():
            return f"{bang}[{label}]({up}assets/results/{rel})"
        try:
            shown = resolved.relative_to(ROOT).as_posix()
        except ValueError:
            shown = path
        return f"{label} (`{shown}`)" if label and label != shown else f"`{shown}`"

    return _LINK.sub(repl, text)


def result_page(name: str, pages: dict[str, str]) -> str:
    source = RESULTS / f"{name}.md"
    if not source.is_file():
        raise GenerationError(f"results/{name}.md is missing: run `make run`")
    text = source.read_text("utf-8")
    text = fix_links(text, source, f"results/{name}.md", pages)
    if not re.search(r"^# ", text, flags=re.M):
        text = f"# results/{name}.md\n\n{text}"
    return text + f"\n\n---\n*Generated from `results/{name}.md` (and its `.csv`); regenerate with `make run`.*\n"


# --------------------------------------------------------------------------------------------
# CLI and API references


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _sub_help(parser: argparse.ArgumentParser) -> dict[str, str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {a.dest: a.help or "" for a in action._choices_actions}
    return {}


_PARSER = None


def cli_parser() -> argparse.ArgumentParser:
    global _PARSER
    if _PARSER is None:
        from benchmarks.cli import build_parser

        _PARSER = build_parser()
    return _PARSER


def cli_help(name: str) -> str | None:
    """``zoo NAME --help`` as text, wrapped at 100 columns; None when there is no such command."""
    sub = _subparsers(cli_parser()).get(name)
    if sub is None:
        return None
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        return sub.format_help()
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def _option_rows(sub: argparse.ArgumentParser) -> list[list[str]]:
    rows = []
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        flags = ", ".join(action.option_strings) or action.dest
        default = action.default
        if default in (None, argparse.SUPPRESS) or isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)) and default in (False, True):
            shown = ""
        else:
            shown = code(default)
        choices = ", ".join(map(str, action.choices)) if action.choices else ""
        help_text = (action.help or "") % {"default": action.default, "prog": sub.prog} if action.help and "%(" in action.help else (action.help or "")
        rows.append([code(flags), shown, esc(choices), esc(help_text)])
    return rows


def cli_page() -> str:
    parser = cli_parser()
    subs = _subparsers(parser)
    helps = _sub_help(parser)
    if not subs:
        raise GenerationError("benchmarks.cli.build_parser() has no subcommands")
    parts = [
        "# Command line: `zoo`\n",
        "Generated from the argument parser (`benchmarks.cli.build_parser()`); `zoo COMMAND --help` prints the same. "
        "`python -m benchmarks.cli` is the same command (for `torchrun`).\n",
        md_table(["command", "what it does"], [[f"[`zoo {n}`](#zoo-{n})", esc(helps.get(n, ""))] for n in subs]),
    ]
    for name, sub in subs.items():
        parts.append(f"\n## zoo {name} {{#zoo-{name}}}\n")
        if helps.get(name):
            parts.append(esc(helps[name][0].upper() + helps[name][1:]) + ".\n")
        parts.append(md_table(["option", "default", "choices", "help"], _option_rows(sub)))
        parts.append(f"\n```text\n{cli_help(name).rstrip()}\n```\n")
    return "\n".join(parts)


def public_modules(package: str) -> list[str]:
    """Modules of ``package`` (from its files; nothing imported), public ones only, no shims."""
    base = ROOT / package
    out = []
    for path in sorted(base.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(p.startswith("_") for p in parts) or "__pycache__" in rel.parts:
            continue
        if not (path.parent / "__init__.py").is_file():
            continue
        if SHIM_MARKER in path.read_text("utf-8"):
            continue
        out.append(".".join(parts))
    return out


def api_page(module: str) -> str:
    return f"""# `{module}`

::: {module}
"""


def api_index(modules: dict[str, list[str]]) -> str:
    parts = [
        "# API reference\n",
        "From the docstrings (read by mkdocstrings without importing the code). `zoo` is the "
        "library; `benchmarks` the harness built on it (the `zoo` command). The names a user "
        "needs are on [`zoo`](zoo.md): `zoo.create_model`, `zoo.predict`, `zoo.list_models`, "
        "`zoo.get_entry`, `zoo.catalog`, `zoo.optimize`.\n",
    ]
    for package, mods in modules.items():
        parts.append(f"\n## `{package}`\n")
        for m in mods:
            doc = module_docstring(m)
            first = doc.strip().splitlines()[0] if doc and doc.strip() else ""
            parts.append(f"- [`{m}`]({m}.md): {rst_to_md(first)}")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------------------------
# docstrings (read statically) as Markdown


def module_path(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def module_docstring(module: str) -> str | None:
    path = module_path(module)
    if path is None:
        return None
    return ast.get_docstring(ast.parse(path.read_text("utf-8"))) or ""


def rst_to_md(text: str) -> str:
    """The docstrings' reST inline markup as Markdown: roles and double backticks to code."""
    text = re.sub(r":(?:func|mod|class|data|meth|attr|exc|obj):`~?([^`]+)`", r"`\1`", text)
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def docstring_markdown(text: str) -> str:
    """A module docstring as a guide's section: prose as is, ``Example:`` blocks as code."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if re.match(r"^(Example|Examples|Command line):\s*$", line):
            block = []
            i += 1
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                block.append(lines[i][4:])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            shell = all(b.startswith("$ ") or b.startswith("  ") or not b.strip() for b in block)
            if shell:
                cmds = [b[2:] if b.startswith("$ ") else b for b in block]
                out.append("```bash\n" + "\n".join(cmds) + "\n```")
            else:
                out.append("```pycon\n" + "\n".join(block) + "\n```")
            continue
        out.append(rst_to_md(line))
        i += 1
    return "\n".join(out)


_MARKER = re.compile(r"<!--\s*zoo-(cli|doc):\s*([\w.]+)(\s+optional)?\s*-->")


def expand_markers(markdown: str, page: str) -> str:
    def repl(m: re.Match) -> str:
        kind, name, optional = m.group(1), m.group(2), bool(m.group(3))
        if kind == "cli":
            text = cli_help(name)
            if text is not None:
                return f"```text\n$ zoo {name} --help\n{text.rstrip()}\n```"
            what = f"the `zoo {name}` command"
        else:
            text = module_docstring(name)
            if text is not None:
                return docstring_markdown(text)
            what = f"the module `{name}`"
        if optional:
            return f'!!! note "Not in this build"\n    {what} is not part of this checkout yet.'
        raise GenerationError(f"{page}: {m.group(0)} names {what}, which does not exist")

    return _MARKER.sub(repl, markdown)


# --------------------------------------------------------------------------------------------
# the pages and the navigation


def api_modules() -> dict[str, list[str]]:
    return {p: public_modules(p) for p in ("zoo", "benchmarks")}


def generated_pages(data: Data | None = None) -> dict[str, str]:
    """Every generated page: site path (under docs/) -> Markdown."""
    data = data or Data()
    pages: dict[str, str] = {"zoo/index.md": zoo_page(data)}
    for e in data.entries:
        pages[f"zoo/{e.name}.md"] = entry_page(data, e)
    result_names = [n for n in RESULT_PAGES]
    for n in result_names:
        pages[f"results/{n}.md"] = ""  # placeholders, so the tables can link each other
    for n in result_names:
        pages[f"results/{n}.md"] = result_page(n, pages)
    pages["results/index.md"] = results_index(data, result_names)
    pages["reference/cli.md"] = cli_page()
    pages["reference/layout.md"] = layout_page()
    modules = api_modules()
    pages["reference/api/index.md"] = api_index(modules)
    for mods in modules.values():
        for m in mods:
            pages[f"reference/api/{m}.md"] = api_page(m)
    return pages


def layout_page() -> str:
    """README's "Code layout" section (the one place it is written), as a page."""
    text = (ROOT / "README.md").read_text("utf-8")
    m = re.search(r"^## Code layout\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    if not m:
        raise GenerationError("README.md has no '## Code layout' section (the reference's layout page is made from it)")
    return "# Code layout\n\n*From README.md.*\n\n" + m.group(1).strip() + "\n"


def results_index(data: Data, names: list[str]) -> str:
    items = []
    for n in names:
        text = (RESULTS / f"{n}.md").read_text("utf-8")
        m = re.search(r"^# (.+)$", text, flags=re.M)
        # the navigation's short name first: the CPU and GPU versions of a table share their title
        label = RESULT_TITLES.get(n, n)
        title = f": {esc(m.group(1))}" if m and m.group(1) != label else ""
        items.append(f"- [{label}]({n}.md){title} (`results/{n}.md`)")
    return (
        "# Results\n\nThe tables `make run` (`zoo benchmark`) and the measurement commands write into "
        "`results/`, shown as they are (each also has a `.csv`). Published figures are the catalogue's; "
        "(ours) columns are what was measured.\n\n" + "\n".join(items) + "\n"
    )


def navigation(data: Data) -> dict[str, list]:
    """The generated sections, keyed by the index page ``mkdocs.yml``'s nav names."""
    zoo_nav: list = ["zoo/index.md"]
    for dataset, entries in data.by_dataset().items():
        zoo_nav.append({data.dataset_titles[dataset]: [{e.name: f"zoo/{e.name}.md"} for e in entries]})
    results_nav: list = ["results/index.md"]
    for n in RESULT_PAGES:
        results_nav.append({RESULT_TITLES.get(n, n): f"results/{n}.md"})
    api_nav: list = ["reference/api/index.md"]
    for package, mods in api_modules().items():
        api_nav.append({package: [f"reference/api/{m}.md" for m in mods]})
    return {"zoo/index.md": zoo_nav, "results/index.md": results_nav, "reference/api/index.md": api_nav}


def _expand_nav(nav: list, expansions: dict[str, list]) -> list:
    out = []
    for item in nav:
        if isinstance(item, dict):
            (title, value), = item.items()
            if isinstance(value, str) and value in expansions:
                out.append({title: expansions[value]})
            elif isinstance(value, list):
                out.append({title: _expand_nav(value, expansions)})
            else:
                out.append(item)
        else:
            out.append(item)
    return out


# --------------------------------------------------------------------------------------------
# MkDocs hook events

_STATE: dict[str, Any] = {}


def on_config(config, **kwargs):
    data = Data()
    _STATE["data"] = data
    if config.get("nav"):
        config["nav"] = _expand_nav(config["nav"], navigation(data))
    return config


def on_files(files, config, **kwargs):
    from mkdocs.structure.files import File

    pages = generated_pages(_STATE.get("data"))
    for path, content in pages.items():
        if files.get_file_from_path(path) is not None:
            raise GenerationError(f"docs/{path} exists: it is a generated page, remove the file")
        files.append(File.generated(config, path, content=content))
    for png in sorted(RESULTS.rglob("*.png")):
        if ".cache" in png.parts or "runs" in png.relative_to(RESULTS).parts:
            continue
        files.append(File.generated(config, f"assets/results/{png.relative_to(RESULTS).as_posix()}", abs_src_path=str(png)))
    return files


def on_page_markdown(markdown, page, config, files, **kwargs):
    return expand_markers(markdown, page.file.src_uri)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write the generated pages into a folder")
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    for path, content in generated_pages().items():
        target = args.out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
