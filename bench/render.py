"""``scripts/bench_docs``: run the benchmarks, then render their tables into docs/benchmarks/*.md.

Each benchmark writes ``docs/benchmarks/data/<name>.json`` (``bench/record.py``). A page holds
a rendered table between marker comments::

    <!-- table:world -->
    (generated from data/world.json by scripts/bench_docs; edits here are overwritten)
    <!-- /table -->

``scripts/bench_docs`` runs every benchmark of :data:`COMMANDS` (or those named) in full, then
rewrites every marked block from the JSON; ``--render-only`` skips the runs; ``--check`` renders
in memory and exits 1 when a page differs from what its data gives (what the tests run).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.record import DATA_DIR  # noqa: E402
from bench.render_tables import TABLES, provenance  # noqa: E402

DOCS_DIR = ROOT / "docs/benchmarks"
BLOCK = re.compile(r"(<!-- table:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)
#: Each table's benchmark, as the docs run it in full (seconds to hours; see the pages).
DATA = "docs/benchmarks/data"
COMMANDS: dict[str, list[str]] = {
    "world": ["scripts/bench_world", "--out", DATA],
    "robot": ["scripts/bench_robot", "--out", DATA],
    "learning": ["scripts/bench_learning", "--json-dir", DATA],
    "arenas": ["scripts/bench_arenas", "--jobs", str(os.cpu_count() or 1), "--out", DATA],
    "sim_quality": ["scripts/bench_sim", "--seeds", "1", "--no-gif", "--json-dir", DATA],
    "train_cartpole": ["scripts/bench_train", "--against-sb3", "--out", DATA],
    "train_cartpole_unseen": [
        *["scripts/bench_train", "--seeds", "10,11,12,13,14,15,16,17,18,19"],
        *["--name", "train_cartpole_unseen", "--out", DATA],
    ],
    "train_quality": ["scripts/bench_train", "--quality", "--seeds", "0,1,2,3,4", "--out", DATA],
}


def block(name: str, data_dir: Path = DATA_DIR) -> str:
    """The body of table ``name``'s block: the provenance line and the table."""
    path = data_dir / f"{name}.json"
    if name not in TABLES:
        raise KeyError(f"no renderer for table {name!r} (bench/render_tables.py: TABLES)")
    if not path.is_file():
        raise FileNotFoundError(f"table {name!r}: no {path}; run scripts/bench_docs {name}")
    data = json.loads(path.read_text())
    return f"{provenance(data['environment'])}\n\n{TABLES[name](data)}\n"


def render_page(text: str, data_dir: Path = DATA_DIR) -> str:
    """``text`` with every marked block rendered from ``data_dir``."""
    return BLOCK.sub(lambda m: m[1] + block(m["name"], data_dir) + m[4], text)


def tables_in(docs_dir: Path = DOCS_DIR) -> dict[str, list[str]]:
    """Each page (by file name) that has marked blocks → their table names."""
    found = {p.name: BLOCK.findall(p.read_text()) for p in sorted(docs_dir.glob("*.md"))}
    return {page: [m[1] for m in blocks] for page, blocks in found.items() if blocks}


def render_docs(
    docs_dir: Path = DOCS_DIR, data_dir: Path = DATA_DIR, *, write: bool = True
) -> list[Path]:
    """Render every page's blocks; return the pages whose text changed (written if ``write``)."""
    changed = []
    for page in sorted(docs_dir.glob("*.md")):
        text = page.read_text()
        new = render_page(text, data_dir)
        if new != text:
            changed.append(page)
            if write:
                page.write_text(new)
    return changed


def run_benchmark(name: str) -> int:
    """Run table ``name``'s benchmark in full; its exit status (1: a bar missed, still data)."""
    command = COMMANDS[name]
    print(f"bench_docs: {' '.join(command)}", flush=True)
    return subprocess.run([str(ROOT / command[0]), *command[1:]], cwd=ROOT, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    """Run (unless ``--render-only``) and render (or ``--check``)."""
    parser = argparse.ArgumentParser(prog="scripts/bench_docs", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"of {sorted(COMMANDS)}")
    parser.add_argument(
        "--render-only", action="store_true", help="render from the committed JSON, run nothing"
    )
    parser.add_argument(
        "--check", action="store_true", help="render nothing; exit 1 if a page differs from it"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(COMMANDS))
    if unknown:
        parser.error(f"unknown {unknown}; known: {sorted(COMMANDS)}")
    failed = []
    if not (args.render_only or args.check):
        for name in args.names or list(COMMANDS):
            if run_benchmark(name) not in (0, 1):
                failed.append(name)
    changed = render_docs(write=not args.check)
    for page in changed:
        verb = "differs from its data" if args.check else "rendered"
        print(f"bench_docs: {page.relative_to(ROOT)} {verb}")
    if failed:
        print(f"bench_docs: failed: {failed}", file=sys.stderr)
        return 2
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
