"""The robot runtime's speed and memory figures, for the README (run by ``scripts/bench_robot``).

Measures, on this machine: decision latency p50/p99 of each policy of the fixture bundle; the
loop's whole-tick compute and period jitter on gpio + gpiozero's MockFactory; the RSS of
``python -m robot run`` after warm-up and its time from process start to the first decision
(the serial backend, a pty playing the microcontroller); and, as the reference a user would
otherwise write, Keras ``model.predict`` on one observation (needs the dev venv). Prints the
machine; writes the figures with the record of ``bench/record.py`` to ``<out>/robot.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import record
from robot.cli.bench import decision_latency_us, tick_cost
from shared.bundle import read_bundle
from tests.robot.mcu import Microcontroller

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_BUNDLE = ROOT / "tests" / "fixtures" / "obstacle_bundle"
TARGETS = {
    "decision_p99_us": 20.0,
    "tick_compute_p99_us": 300.0,
    "jitter_p99_us": 1000.0,
    "rss_mb": 80.0,
    "first_decision_s": 1.5,
}


def robot_run_figures(ticks: int) -> dict[str, Any]:
    """RSS after ``ticks`` ticks at 50 Hz and time to first decision of ``python -m robot run``."""
    mcu = Microcontroller()
    stop = threading.Event()

    def feed() -> None:
        while not stop.is_set():
            if mcu.master is not None:
                mcu.send_ranges((1.5, 1.5, 1.5))
            time.sleep(0.02)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "robot.toml"
        config.write_text(
            f"""
[bundle]
path = {json.dumps(str(FIXTURE_BUNDLE))}
policy = "tflite"
[loop]
rate_hz = 50.0
[hardware]
backend = "serial"
[hardware.serial]
url = {json.dumps(mcu.path)}
channels = {{ left_distance_m = 0, front_distance_m = 1, right_distance_m = 2 }}
"""
        )
        summary_path = Path(tmp) / "summary.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "robot",
                "--log-level",
                "WARNING",
                "run",
                "--config",
                str(config),
                "--max-ticks",
                str(ticks),
                "--summary-json",
                str(summary_path),
            ],
            cwd=ROOT,
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        summary = json.loads(summary_path.read_text())
    stop.set()
    feeder.join()
    mcu.close()
    return summary


def keras_predict_ms(samples: int) -> float | None:
    """Median ms of Keras ``model.predict`` on one observation for the fixture's MLP shape."""
    try:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras
    except ImportError:
        return None
    model = keras.Sequential(
        [
            keras.Input(shape=(3,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(5),
        ]
    )
    x = np.array([[0.1, -0.5, 0.9]], dtype=np.float32)
    for _ in range(5):
        model.predict(x, verbose=0)
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        model.predict(x, verbose=0)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def main(argv: list[str] | None = None) -> None:
    """Measure and print the figures; write them with the record to ``<out>/robot.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--ticks", type=int, default=5000, help="loop ticks at 50 Hz (gpio)")
    parser.add_argument("--run-ticks", type=int, default=500, help="ticks of `robot run`")
    parser.add_argument("--keras-samples", type=int, default=50)
    parser.add_argument(
        "--out", type=Path, default=record.SCRATCH_DIR, help="where robot.json goes (runs/bench)"
    )
    args = parser.parse_args(argv)
    env = record.environment(sys.argv[1:] if argv is None else argv, prog="scripts/bench_robot")
    record.print_environment(env)
    bundle = read_bundle(FIXTURE_BUNDLE)
    figures: dict[str, Any] = {"bundle": str(FIXTURE_BUNDLE.relative_to(ROOT))}
    figures |= {"decisions": args.decisions, "ticks": args.ticks, "run_ticks": args.run_ticks}
    for name in ("tflite", "tflite-int8", "qtable"):
        p50, p99, describe = decision_latency_us(bundle, name, args.decisions)
        figures[f"decision_{name}"] = {"p50_us": round(p50, 2), "p99_us": round(p99, 2)}
        print(f"decision {name:12s} p50 {p50:6.2f} µs  p99 {p99:6.2f} µs  ({describe})", flush=True)
    for key, threads, what in (
        ("loop_gpio_mock_50hz", True, "gpio+MockFactory"),
        ("loop_gpio_mock_50hz_no_ping_threads", False, "gpio+MockFactory, ping threads stopped"),
    ):
        loop = tick_cost(bundle, "tflite", args.ticks, 50.0, sensor_threads=threads)
        figures[key] = loop
        print(
            f"loop {what}, {args.ticks} ticks at 50 Hz: tick compute p50 "
            f"{loop['tick_compute_us']['p50']} µs p99 {loop['tick_compute_us']['p99']} µs; "
            f"decision p50 {loop['decision_us']['p50']} µs p99 {loop['decision_us']['p99']} µs; "
            f"jitter p50 {loop['lateness_us']['p50']} µs p99 {loop['lateness_us']['p99']} µs; "
            f"overruns {loop['overruns']}; achieved {loop['rate_hz']} Hz",
            flush=True,
        )
    figures["load_average_after_loops"] = list(os.getloadavg())
    run = robot_run_figures(args.run_ticks)
    figures["robot_run"] = {
        "rss_mb": run["rss_mb"],
        "first_decision_after_process_start_s": run["first_decision_after_process_start_s"],
        "tick_compute_us": run["tick_compute_us"],
        "lateness_us": run["lateness_us"],
    }
    print(
        f"robot run (serial over a pty, {args.run_ticks} ticks at 50 Hz): RSS "
        f"{run['rss_mb']:.1f} MiB; first decision {run['first_decision_after_process_start_s']} s "
        "after process start",
        flush=True,
    )
    keras_ms = keras_predict_ms(args.keras_samples)
    if keras_ms is not None:
        f32 = figures["decision_tflite"]["p50_us"]
        figures["keras_predict_ms"] = round(keras_ms, 2)
        figures["keras_over_tflite_p50"] = round(keras_ms * 1e3 / f32)
        print(
            f"keras model.predict, one observation: median {keras_ms:.1f} ms = "
            f"{keras_ms * 1e3 / f32:,.0f}× the float32 TFLite decision p50",
            flush=True,
        )
    path = record.write_json("robot", figures, record.finish(env), args.out)
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
