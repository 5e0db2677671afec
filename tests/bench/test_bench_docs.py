"""The benchmark pages and their data: the committed tables are what the committed JSON renders,
and every benchmark records its machine, versions, command and load average with its figures."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import record, render
from bench.render_tables import TABLES

ROOT = Path(__file__).resolve().parents[2]
ENV_KEYS = {"command", "machine", "versions", "env_vars", "git", "started_utc"}
ENV_KEYS |= {"load_average_start", "load_average_end", "finished_utc"}


def _is_benchmark(path: Path) -> bool:
    """A module that a scripts/bench_* command runs."""
    scripts = (ROOT / "scripts").glob("bench_*")
    run = re.compile(rf"-m bench\.{path.stem}\b")
    return path.stem != "render" and any(run.search(s.read_text()) for s in scripts)


def test_rendering_the_committed_data_reproduces_the_committed_pages() -> None:
    assert render.render_docs(write=False) == []  # scripts/bench_docs --check


def test_every_marked_table_has_a_renderer_data_and_a_command() -> None:
    names = {name for names in render.tables_in().values() for name in names}
    assert names, "no page has a <!-- table:NAME --> block"
    for name in names:
        assert name in TABLES and name in render.COMMANDS
        assert (record.DATA_DIR / f"{name}.json").is_file()


@pytest.mark.parametrize("path", sorted(record.DATA_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_every_committed_figure_file_names_its_machine_versions_command_and_load(
    path: Path,
) -> None:
    data = json.loads(path.read_text())
    env = data["environment"]
    assert data["benchmark"] == path.stem and set(env) >= ENV_KEYS
    assert {"cpu_model", "cpu_flags", "cpu_flags_hash", "logical_cores"} <= set(env["machine"])
    assert {"python", "numpy"} <= set(env["versions"])
    assert len(env["load_average_start"]) == len(env["load_average_end"]) == 3


@pytest.mark.parametrize(
    "module", sorted(p.stem for p in (ROOT / "bench").glob("*.py") if _is_benchmark(p))
)
def test_every_benchmark_records_its_environment(module: str) -> None:
    source = (ROOT / "bench" / f"{module}.py").read_text()
    assert "record.environment(" in source and "record.print_environment(" in source
    assert "record.write_json(" in source


def test_a_block_renders_from_its_data_and_a_missing_file_is_named(tmp_path: Path) -> None:
    env = record.finish(record.environment(["7"], prog="scripts/bench_world"))
    results = {"ticks": 7, "p50_us": 1.0, "p99_us": 2.0, "mean_us": 1.5}
    results |= {"faster_than_real_time": 3, "odometer_m": 0.25}
    record.write_json("world", {"results": results}, env, tmp_path)
    page = "a\n<!-- table:world -->\nstale\n<!-- /table -->\nb\n"

    text = render.render_page(page, tmp_path)

    assert text.startswith("a\n<!-- table:world -->\nMeasured ")
    assert text.endswith("<!-- /table -->\nb\n")
    assert "`scripts/bench_world 7`" in text and "| 7 | 1 µs | 2 µs |" in text
    assert render.render_page(text, tmp_path) == text  # rendering twice changes nothing
    with pytest.raises(FileNotFoundError, match="bench_docs robot"):
        render.render_page("<!-- table:robot -->\n<!-- /table -->\n", tmp_path)


def test_the_world_benchmark_prints_and_writes_its_environment(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.world_speed", "30", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "machine:" in done.stdout and "cpu flags:" in done.stdout
    data = json.loads((tmp_path / "world.json").read_text())
    assert data["environment"]["command"] == f"scripts/bench_world 30 --out {tmp_path}"
    assert data["results"]["ticks"] == 30
