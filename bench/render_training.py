"""The training tables that ``scripts/bench_docs`` renders: CartPole beside SB3, the quality table.

Pure functions of ``bench/train_speed.py``'s and ``bench/train_quality.py``'s JSON.
"""

from __future__ import annotations

from typing import Any


def _num(value: float | None, fmt: str = ",.0f") -> str:
    return "—" if value is None else format(value, fmt)


def _solve(r: dict[str, Any]) -> str:
    if r["solve_steps"] is None:
        return "not solved"
    return f"{r['solve_steps']:,} / {r['solve_seconds']:.1f} s"


def train_cartpole(data: dict[str, Any]) -> str:
    """``scripts/bench_train --against-sb3``: per seed, sim2pi beside SB3; medians; the bars."""
    v = data["verdict"]
    with_sb3 = "sb3" in v
    head = "| seed | sim2pi solved at (steps / s) | ended at | env steps/s | final | best |"
    rule = "|---|---|---|---|---|---|"
    if with_sb3:
        head += " SB3 solved at (steps / s) | SB3 final |"
        rule += "---|---|"
    lines = [head, rule]
    for row in data["seeds"]:
        r = row["sim2pi"]
        ended = f"{r['steps']:,}" + (" (solved)" if r.get("stopped_solved_at") else "")
        line = (
            f"| {row['seed']} | {_solve(r)} | {ended} | {r['steps_per_second']:,.0f} "
            f"| {r['final']:.1f} | {r['best']:.1f} |"
        )
        if with_sb3:
            s = row["sb3"]
            line += f" {_solve(s)} | {s['final']:.1f} |"
        lines.append(line)
    n = v["seeds"]
    median = (
        f"| **median** | **{_num(v['median_solve_steps'])} / "
        f"{_num(v['median_solve_seconds'], '.1f')} s** ({v['solved']}/{n} solved) | "
        f"| {_num(v['median_steps_per_second'])} | **{v['final_at_least_475']}/{n} ≥ 475** "
        f"| {v['best_at_least_475']}/{n} ≥ 475 |"
    )
    if with_sb3:
        s = v["sb3"]
        median += (
            f" {_num(s['median_solve_steps'])} / {_num(s['median_solve_seconds'], '.1f')} s "
            f"({s['solved']}/{n} solved) | {s['final_at_least_475']}/{n} ≥ 475 |"
        )
    lines.append(median)
    bars = [
        f"final checkpoint ≥ 475 on ≥ {v['bars']['final']['needed']} of {n} seeds: "
        f"**{'met' if v['bars']['final']['passed'] else 'missed'}**"
    ]
    if with_sb3:
        ratio = "—" if v["speed_ratio"] is None else f"{v['speed_ratio']:.2f}"
        bars.append(
            f"median time to solve ≤ {v['bars']['speed']['needed']} × SB3's: {ratio} × — "
            f"**{'met' if v['bars']['speed']['passed'] else 'missed'}**"
        )
    return "\n".join(lines) + "\n\nBars: " + "; ".join(bars) + "."


def train_quality(data: dict[str, Any]) -> str:
    """``scripts/bench_train --quality``: per row and seed, best and final against the bar."""
    lines = [
        "| env | algo | bar | seed | ended at | best | final |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in data["rows"]:
        fmt = ".2f" if row["metric"] == "success" or abs(row["bar"]) < 20 else ".1f"
        bar = f"{'success' if row['metric'] == 'success' else 'mean'} ≥ {row['bar']:g}"
        for s in row["seeds"]:
            ended = f"{s['steps']:,}" + (" (solved)" if s.get("stopped_solved_at") else "")
            lines.append(
                f"| {row['env_id']} | {row['algo']} | {bar} ({row['episodes']} ep.) "
                f"| {s['seed']} | {ended} | {s['best']:{fmt}} | {s['last']:{fmt}} |"
            )
        n = len(row["seeds"])
        lines.append(
            f"| **{row['env_id']}** | | | **{n} seeds** | | {row['best_meets_bar']}/{n} meet "
            f"| **{row['final_meets_bar']}/{n} meet — "
            f"{'met' if row['passed'] else 'missed'}** (needs {row['needed']}) |"
        )
    return "\n".join(lines)
