"""The docs site's generated pages (docs/gen_pages.py), without building the site.

What the strict build relies on: every entry gets a page and a row, the tables they are made
from are cross-checked (a stale or missing results/ table fails generation), a guide's marker
for a command or module that does not exist fails unless marked optional, and the API pages'
docstring rewrite turns the project's ``Example:`` doctests into griffe's examples.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

import zoo

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"docs_{name}", ROOT / "docs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gen = _load("gen_pages")


@pytest.fixture(scope="module")
def pages():
    return gen.generated_pages()


def test_every_entry_has_a_page_and_a_row(pages):
    entries = zoo.all_entries()
    table = pages["zoo/index.md"]
    rows = [line for line in table.splitlines() if line.startswith("| [")]
    assert [r.split("](")[0][3:] for r in rows] == [e.name for e in entries]
    for e in entries:
        page = pages[f"zoo/{e.name}.md"]
        for heading in ("## Load it", "## Test protocol", "## Accuracy", "## Complexity", "## Speed", "## Checkpoint"):
            assert heading in page, (e.name, heading)
        assert f'zoo.create_model("{e.name}", pretrained=True)' in page
    # the published figures and the measured ones, as the tables have them
    x3d = pages["zoo/x3d_xs_4x12_kinetics400.md"]
    assert "| top-1 (%) | 69.12 | - |" in x3d
    demo = pages["zoo/i3d_tiny_8x4_demo.md"]
    assert "| top-1 (%) | 92.00 | 92.00 |" in demo
    assert zoo.get_entry("i3d_tiny_8x4_demo").sha256 in demo


def test_protocol_fields_and_their_sources_are_on_the_page(pages):
    from zoo.transforms import protocol_of

    for e in zoo.all_entries():
        page = pages[f"zoo/{e.name}.md"]
        for key, field in protocol_of(e).items():
            if isinstance(field, dict):
                assert f"| {gen.esc(key.replace('_', ' '))} | {gen.code(field['value'])} | {gen.esc(field['source'])} |" in page


def test_cli_reference_has_every_subcommand(pages):
    from benchmarks.cli import build_parser

    names = gen._subparsers(build_parser())
    assert names
    for name in names:
        assert f"## zoo {name} {{#zoo-{name}}}" in pages["reference/cli.md"]
        assert f"usage: zoo {name}" in pages["reference/cli.md"]


def test_api_pages_cover_the_public_modules_and_skip_shims(pages):
    assert "reference/api/zoo.md" in pages and "reference/api/zoo.registry.md" in pages
    assert "reference/api/benchmarks.evaluate.md" in pages
    assert "reference/api/benchmarks.video.md" not in pages  # a moved-module shim
    assert pages["reference/api/zoo.registry.md"].strip().endswith("::: zoo.registry")


def _copy_results(tmp_path: Path) -> Path:
    target = tmp_path / "results"
    shutil.copytree(ROOT / "results", target, ignore=shutil.ignore_patterns("runs", ".cache"))
    return target


def test_a_stale_table_fails_generation(tmp_path, monkeypatch):
    results = _copy_results(tmp_path)
    with open(results / "ssv2.csv", "a") as f:
        f.write("slow_r9_8x8_ssv2,Slow,R9,-,8x8,1,,1,,1,1,1 x 1,1,1,,,x,pytorchvideo,8,1\n")
    monkeypatch.setattr(gen, "RESULTS", results)
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    with pytest.raises(gen.GenerationError, match="slow_r9_8x8_ssv2.*catalogue does not have"):
        gen.Data()


def test_a_missing_table_fails_generation(tmp_path, monkeypatch):
    results = _copy_results(tmp_path)
    (results / "complexity.csv").unlink()
    monkeypatch.setattr(gen, "RESULTS", results)
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    with pytest.raises(gen.GenerationError, match="complexity.csv is missing"):
        gen.Data()


def test_markers():
    text = gen.expand_markers("<!-- zoo-cli: list -->", "guides/x.md")
    assert text.startswith("```text\n$ zoo list --help\nusage: zoo list")
    doc = gen.expand_markers("<!-- zoo-doc: zoo.registry -->", "guides/x.md")
    assert "```pycon" in doc and ">>> zoo.get_entry" in doc
    with pytest.raises(gen.GenerationError, match="zoo nosuch"):
        gen.expand_markers("<!-- zoo-cli: nosuch -->", "guides/x.md")
    assert "Not in this build" in gen.expand_markers("<!-- zoo-doc: zoo.nosuch optional -->", "guides/x.md")


def test_results_links_are_rewritten_for_the_site(pages):
    demo = pages["results/demo.md"]
    assert "(`zoo/weights/i3d_tiny_8x4_demo.pyth`)" in demo  # a repository file: shown, not linked
    assert "](../zoo" not in demo


def test_griffe_rewrite_of_examples():
    griffe_ext = _load("griffe_docstrings")
    text = "Summary.\n\nExample (the API):\n    >>> 1 + 1\n    2\n\nCommand line:\n    $ zoo list\n\nSee :func:`zoo.predict`."
    out = griffe_ext.rewrite(text)
    assert "Examples:\n    >>> 1 + 1\n    2" in out
    assert "Command line:\n    ```bash\n    $ zoo list\n    ```" in out
    assert "See `zoo.predict`." in out


def test_results_index_tells_the_cpu_and_gpu_tables_apart(pages):
    index = pages["results/index.md"]
    links = [line.split("](")[0] for line in index.splitlines() if line.startswith("- [")]
    assert len(links) == len(set(links)) == len(gen.RESULT_PAGES)  # "Transfer learning" thrice before
    assert "- [Speed (GPU)](gpu/speed.md): Speed: our models" in index
