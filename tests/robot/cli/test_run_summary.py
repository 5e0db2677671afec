"""``robot run``'s exit summary: the serial link's counters in the log and in ``--summary-json``;
no ``link`` key for a backend without a link."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from robot.cli import main
from robot.cli.bench import simulated_gpio
from tests.robot.cli.robot_process import feeding, serial_config
from tests.robot.conftest import example
from tests.robot.mcu import Microcontroller, wait_for

CHANNELS = ("left_distance_m", "front_distance_m", "right_distance_m")
LINK_KEYS = {
    "frames",
    "corrupt",
    "partial",
    "oversized",
    "unknown",
    "wrong_count",
    "out_of_order",
    "lost",
    "resyncs",
    "reconnects",
    "open_failures",
    "port_errors",
}


def _json(path: Path) -> list[str]:
    return ["--summary-json", str(path)]


@pytest.fixture
def mcu() -> Iterator[Microcontroller]:
    far_end = Microcontroller()
    yield far_end
    far_end.close()


def test_the_serial_links_counters_are_in_the_exit_summary(
    tmp_path: Path, mcu: Microcontroller, caplog: pytest.LogCaptureFixture
) -> None:
    config = serial_config(tmp_path, mcu, "qtable")
    summary_path = tmp_path / "summary.json"

    # Garbage on the line once the port is open (the stop it sends first has arrived).
    def garbage() -> None:
        wait_for(lambda: len(mcu.received) >= 1, timeout_s=20.0)
        mcu.send(b"$S,garbage*00\nno frame at all\n$S,1,2,3,4,5,00*ZZ\n")

    injector = threading.Thread(target=garbage, daemon=True)
    with caplog.at_level(logging.INFO, logger="robot"), feeding(mcu):
        injector.start()
        code = main(["run", "--config", str(config), "--max-ticks", "20", *_json(summary_path)])
    injector.join()
    assert code == 0
    link = json.loads(summary_path.read_text())["link"]
    assert set(link) == LINK_KEYS
    assert link["frames"] > 0 and link["corrupt"] == 2 and link["partial"] == 1, link
    assert link["reconnects"] == 0 and link["resyncs"] == 0, link
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("link: "))
    assert f"link: frames {link['frames']}, dropped " in line
    assert "resyncs 0, reconnects 0" in line


def test_a_backend_without_a_link_has_no_link_key(tmp_path: Path) -> None:
    factory, _, _ = simulated_gpio(CHANNELS, (1.5, 1.5, 1.5))
    try:
        summary_path = tmp_path / "summary.json"
        config = example(
            tmp_path, "reference_gpio.toml", ('policy = "tflite"', 'policy = "qtable"')
        )
        code = main(
            ["run", "--config", str(config), "--max-ticks", "5", *_json(summary_path)],
            pin_factory=factory,
        )
    finally:
        factory.reset()
    assert code == 0
    assert "link" not in json.loads(summary_path.read_text())
