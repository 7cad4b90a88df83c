"""The ``zoo`` command line: ``zoo list|info|complexity|evaluate|merge|tables|reproduce|benchmark``.

Each subcommand beyond list/info lives in its own module, which defines
``add_parser(subparsers)`` and sets ``func`` on its parser; the modules are listed in
``SUBCOMMAND_MODULES``.

Example:
    $ zoo list --dataset ssv2
    $ zoo info slowfast_r50
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: Harness modules that add subcommands (each defines ``add_parser(subparsers)``).
SUBCOMMAND_MODULES = (
    "benchmarks.complexity",
    "benchmarks.evaluate",
    "benchmarks.tables",
    "benchmarks.reproduce",
    "benchmarks.audit",
    "benchmarks.predict",
    "benchmarks.runtime.merge",
    "benchmarks.speed",
)


def _cmd_list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    import zoo

    rows = []
    for name in zoo.list_models(args.pattern, dataset=args.dataset):
        e = zoo.get_entry(name)
        metric = "/".join(f"{v:.2f}" for v in e.published.values())
        gflops = f"{e.gflops:g} x {e.views_label}" if e.gflops is not None else "-"
        rows.append([e.name, ",".join(e.aliases) or "-", e.frames_x_rate, metric, gflops, f"{e.params_m:g}"])
    headers = ["name", "aliases", "frames x rate", "published", "GFLOPs x views", "params (M)"]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    import zoo

    from zoo.transforms import protocol_of

    entry = zoo.get_entry(args.name)
    for key, value in entry.as_record().items():
        if value not in (None, "", {}):
            print(f"{key:>16}: {value}")
    protocol = protocol_of(entry)
    print(f"\ntest input ({entry.extra.get('protocol')}: {protocol.get('description', '')})")
    print(f"{'config':>16}: {entry.extra.get('config', '-')}")
    for field, item in protocol.items():
        if isinstance(item, dict):
            print(f"{field:>16}: {item['value']}  [{item['source']}]")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list the catalogued entries")
    p.add_argument("pattern", nargs="?", default="*", help="shell-style name pattern")
    p.add_argument("--dataset", choices=["kinetics400", "ssv2", "charades", "ava"])
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("info", help="every field of one entry")
    p.add_argument("name", help="canonical name or alias")
    p.set_defaults(func=_cmd_info)

    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise
            continue  # not written yet
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyError as err:  # unknown model names carry their suggestions
        print(f"zoo: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
