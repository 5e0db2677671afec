"""bench/record.py: what every benchmark writes beside its figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import record

MACHINE_KEYS = {"arch", "cpu_model", "cpu_flags", "cpu_flags_hash", "logical_cores"}
MACHINE_KEYS |= {"usable_cores", "memory_gib", "platform"}


def test_the_environment_names_machine_versions_command_and_load() -> None:
    env = record.environment(["--seeds", "2"], prog="scripts/bench_x")

    assert env["command"] == "scripts/bench_x --seeds 2"
    assert set(env["machine"]) >= MACHINE_KEYS
    assert env["machine"]["cpu_model"] and env["machine"]["logical_cores"] >= 1
    assert len(env["machine"]["cpu_flags_hash"]) == 12
    assert {"python", "numpy"} <= set(env["versions"])
    assert "TF_ENABLE_ONEDNN_OPTS" in env["env_vars"]
    assert len(env["load_average_start"]) == 3
    assert set(env["git"]) == {"commit", "dirty"}
    done = record.finish(env)
    assert done["elapsed_s"] >= 0 and len(done["load_average_end"]) == 3
    assert "finished_utc" not in env  # finish returns a new record


def test_numeric_flags_keep_what_picks_kernels_and_the_hash_sees_all() -> None:
    flags = ["fpu", "sse4_2", "avx2", "fma", "avx512f", "avx512_vnni", "amx_tile", "asimd", "ht"]
    assert record.numeric_flags(flags) == sorted(
        ["sse4_2", "avx2", "fma", "avx512f", "avx512_vnni", "amx_tile", "asimd"]
    )
    assert record.flags_hash(flags) == record.flags_hash(list(reversed(flags)))
    assert record.flags_hash(flags) != record.flags_hash(flags[:-1])


def test_write_json_writes_payload_and_environment_atomically(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = record.environment([], prog="scripts/bench_x")
    record.print_environment(env)
    assert "machine:" in capsys.readouterr().out

    path = record.write_json("demo", {"results": {"a": 1}}, env, tmp_path)

    assert path == tmp_path / "demo.json"
    data = json.loads(path.read_text())
    assert data["benchmark"] == "demo" and data["results"] == {"a": 1}
    assert "load_average_end" in data["environment"]  # finished on the way out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.json"]  # no temporary left
    with pytest.raises(ValueError, match="plain file stem"):
        record.write_json("../x", {}, env, tmp_path)
