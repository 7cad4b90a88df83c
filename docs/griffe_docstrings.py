"""A griffe extension for the API pages: this project's docstrings as mkdocstrings reads them.

The docstrings are Google style with two habits of their own, which it turns into what griffe
and Markdown understand, on the docstring's text only (nothing is imported or run):

- ``Example:`` (singular) holding ``>>>`` doctests becomes ``Examples:``, which griffe renders
  as Python code (its singular form is an admonition, where ``>>>`` would read as a quote);
- an ``Example:`` or ``Command line:`` block of shell lines (``$ zoo ...``) is fenced as bash;
- reST roles (``:func:`zoo.predict```) become code spans.
"""

from __future__ import annotations

import re

import griffe

_HEADER = re.compile(r"^(?P<indent>\s*)(?P<title>Example|Examples|Command line)(?P<aside>\s*\([^)]*\))?:\s*$")
_ROLE = re.compile(r":(?:func|mod|class|data|meth|attr|exc|obj):`~?([^`]+)`")


def rewrite(text: str) -> str:
    """The docstring ``text`` with its example blocks and reST roles rewritten (see the module)."""
    lines = _ROLE.sub(r"`\1`", text).split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = _HEADER.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        indent = m.group("indent")
        block: list[str] = []
        j = i + 1
        while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > len(indent)):
            block.append(lines[j])
            j += 1
        while block and not block[-1].strip():
            block.pop()
        body = [b.strip() for b in block if b.strip()]
        if any(b.startswith(">>>") for b in body):
            if m.group("aside"):  # griffe's section headers take no aside: keep it as the first line
                out.append(f"{indent}{m.group('title')}{m.group('aside')}:")
                out.append("")
            out.append(f"{indent}Examples:")
            out.extend(block)
        elif body and body[0].startswith("$ "):
            inner = indent + "    "
            out.append(f"{indent}{m.group('title')}{m.group('aside') or ''}:")
            out.append(f"{inner}```bash")
            out.extend(block)
            out.append(f"{inner}```")
        else:
            out.append(lines[i])
            out.extend(block)
        out.extend(lines[i + 1 + len(block):j])
        i = j
    return "\n".join(out)


class ProjectDocstrings(griffe.Extension):
    """Rewrites every loaded object's docstring with :func:`rewrite`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
