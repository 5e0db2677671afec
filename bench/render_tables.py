"""The Markdown of each table that ``scripts/bench_docs`` renders from ``docs/benchmarks/data``.

One function per benchmark's JSON (``bench/record.py``'s format: the figures and an
``environment``): it returns the table, and :func:`provenance` the line above it that says
when, where, with what and how it was measured. Pure functions of the data: rendering the
committed JSON reproduces the committed pages byte for byte (``tests/bench/test_bench_docs.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from bench.render_training import train_cartpole, train_quality

Table = Callable[[dict[str, Any]], str]


def provenance(env: dict[str, Any]) -> str:
    """One paragraph: date, machine (CPU, flags hash, cores), load, versions, command, commit."""
    m, g = env["machine"], env["git"]
    load = _load(env.get("load_average_start")) + " → " + _load(env.get("load_average_end"))
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items() if k != "gpiozero")
    commit = (g.get("commit") or "?")[:7] + (" + uncommitted changes" if g.get("dirty") else "")
    settings = ", ".join(f"{k}={v}" for k, v in env.get("env_vars", {}).items() if v is not None)
    return (
        f"Measured {env['started_utc'][:16].replace('T', ' ')} UTC ({env.get('elapsed_s', '?')} s)"
        f" on {m['arch']} {m['cpu_model']}, {m['usable_cores']} of {m['logical_cores']} logical "
        f"cores, CPU flags hash `{m['cpu_flags_hash']}`; load average (1/5/15 min) {load}; "
        f"{versions}{'; ' + settings if settings else ''}; code at {commit}. "
        f"Command: `{env['command']}`."
    )


def world(data: dict[str, Any]) -> str:
    """``scripts/bench_world``: one tick of a roaming robot."""
    r = data["results"]
    return "\n".join(
        [
            "| ticks | p50 | p99 | mean | faster than real time | odometer (seeded) |",
            "|---|---|---|---|---|---|",
            f"| {r['ticks']:,} | {r['p50_us']:.0f} µs | {r['p99_us']:.0f} µs "
            f"| {r['mean_us']:.0f} µs | {r['faster_than_real_time']}× | {r['odometer_m']:.3f} m |",
        ]
    )


def robot(data: dict[str, Any]) -> str:
    """``scripts/bench_robot``: decisions, ticks, jitter, RSS, start-up, the Keras reference."""
    rows = [("figure", "value", "target"), ("---", "---", "---")]
    policies = {"tflite": "float32 TFLite", "tflite-int8": "int8 TFLite", "qtable": "Q-table"}
    for name, what in policies.items():
        d = data[f"decision_{name}"]
        rows.append((f"decision {what}, p50 / p99", _pair(d["p50_us"], d["p99_us"]), "p99 ≤ 20 µs"))
    for key, what in (
        ("loop_gpio_mock_50hz", "`gpio` + `MockFactory`"),
        ("loop_gpio_mock_50hz_no_ping_threads", "the same, ping threads stopped"),
    ):
        loop = data[key]
        tick, late = loop["tick_compute_us"], loop["lateness_us"]
        compute = _pair(tick["p50"], tick["p99"])
        rows.append((f"tick compute, {what}, p50 / p99", compute, "p99 ≤ 300 µs"))
        rows.append(
            (
                f"period jitter, {what}, p50 / p99",
                f"{_pair(late['p50'], late['p99'])} ({loop['overruns']} overruns, "
                f"{loop['rate_hz']} Hz)",
                "p99 ≤ 1,000 µs",
            )
        )
    run = data["robot_run"]
    rows.append(("RSS of `robot run` (serial)", f"{run['rss_mb']:.1f} MiB", "≤ 80 MB"))
    first = run["first_decision_after_process_start_s"]
    rows.append(("process start → first decision", f"{first} s", "≤ 1.5 s"))
    if "keras_predict_ms" in data:
        k = data["keras_predict_ms"]
        ratio = f"{data['keras_over_tflite_p50']:,}× the float32 p50"
        rows.append(("Keras `model.predict`, one observation, median", f"{k} ms ({ratio})", "—"))
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def learning(data: dict[str, Any]) -> str:
    """``scripts/bench_learning``: per shift, returns, recovery, collisions, distance."""
    seeds = data["seeds"]
    lines = [
        "| shift | seeds | return per minute: nominal / shifted / learned | recovered "
        "| collisions/min over the learning minutes: unlearned / learning "
        "| fresh arenas, m/min: nominal / shifted / learned | rollbacks | bar |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, f in data.items():
        if not (isinstance(f, dict) and "bar_met" in f):
            continue
        rec = f["recovered_fraction"]
        lines.append(
            f"| {name} | {seeds[0]}–{seeds[-1]} | {f['return_nominal']:.1f} / "
            f"{f['return_shifted_before']:.1f} / {f['return_shifted_after']:.1f} "
            f"| {'— (nothing lost)' if math.isnan(rec) else f'{rec:.2f}'} "
            f"| {f['collisions_per_min_unlearned']:.3f} / "
            f"{f['collisions_per_min_during_learning']:.3f} "
            f"| {f['metres_per_min_eval_nominal']:.1f} / {f['metres_per_min_eval_before']:.1f} / "
            f"{f['metres_per_min_eval_after']:.1f} | {f['rollbacks']} "
            f"| {'met' if f['bar_met'] else 'missed'} |"
        )
    return "\n".join(lines)


def arenas(data: dict[str, Any]) -> str:
    """``scripts/bench_arenas``: the table the command prints, and how many bars were met."""
    from bench.arenas import table

    met = sum(b["met"] for b in data["bars"])
    seeds = data["seeds"]
    head = (
        f"Seeds {seeds[0]}–{seeds[-1]}, {data['ticks']:,} ticks per run, supervisor "
        f"{data['supervisor']}; **{met} of {len(data['bars'])} bars met**."
    )
    return head + "\n\n" + table(data["results"])


def sim_quality(data: dict[str, Any]) -> str:
    """``scripts/bench_sim``: per run, collision-free share, speed, training wall time."""
    lines = [
        "| run | checkpoint | collision-free | mean speed | mean return | train wall | bar |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        wall = "—" if r["train_wall_s"] is None else f"{r['train_wall_s']:.0f} s"
        lines.append(
            f"| `{r['run']}` | {r['checkpoint']} | {100 * r['collision_free_share']:.0f} % "
            f"({r['episodes']} eps) | {r['mean_speed_m_s']:.3f} m/s "
            f"({r['mean_speed_m_s'] / r['top_speed_m_s']:.2f}× top) | {r['mean_return']:.1f} "
            f"| {wall} | {'met' if r['passed'] else 'missed'} |"
        )
    return "\n".join(lines)


#: Table name (the data file's stem) → its renderer. Another benchmark adds its own here.
TABLES: dict[str, Table] = {
    "world": world,
    "robot": robot,
    "learning": learning,
    "arenas": arenas,
    "sim_quality": sim_quality,
    "train_cartpole": train_cartpole,
    "train_cartpole_unseen": train_cartpole,
    "train_quality": train_quality,
}


def _pair(a: float, b: float) -> str:
    return f"{a:g} / {b:g} µs"


def _load(values: list[float] | None) -> str:
    return "?" if not values else " ".join(f"{x:.2f}" for x in values)
