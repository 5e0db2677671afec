"""robot.toml as a file: what is not a regular, small, UTF-8, shallow TOML file is one ConfigError.

Real files throughout: a FIFO made with ``os.mkfifo``, a symlink to ``/dev/zero``, sparse files
for sizes over the limit (the size is refused before a byte is read), and ``python -m robot``
in a subprocess for the message, the exit code and the absence of a traceback end to end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from robot.cli.exit_codes import EXIT_USAGE
from robot.config import load_config
from robot.config.load import CONFIG_LIMITS
from robot.errors import ConfigError
from tests.robot.conftest import example

ROOT = Path(__file__).resolve().parents[3]
needs_posix = pytest.mark.skipif(os.name != "posix", reason="FIFOs and /dev/zero are POSIX")


def refused(path: Path) -> str:
    """The message ``load_config`` refuses ``path`` with, within 20 s (a FIFO must not block)."""
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            load_config(path)
            outcome.append(None)
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(20)
    assert outcome, f"load_config({path}) still reading after 20 s"
    error = outcome[0]
    assert isinstance(error, ConfigError), repr(error)
    message = str(error)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "robot.toml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    message = refused(path)
    assert "expected UTF-8 text, found binary data (byte 0x89 at offset 0 is not UTF-8)" in message
    assert "copy one from robot/examples/" in message


def test_directory(tmp_path: Path) -> None:
    message = refused(tmp_path)
    assert "expected a config file (a regular file), found a directory" in message


@needs_posix
def test_fifo_is_named_and_never_blocks(tmp_path: Path) -> None:
    path = tmp_path / "robot.toml"
    os.mkfifo(path)
    assert "found a FIFO (named pipe)" in refused(path)


@needs_posix
def test_symlink_to_dev_zero(tmp_path: Path) -> None:
    path = tmp_path / "robot.toml"
    path.symlink_to("/dev/zero")
    assert "found a character device (/dev/zero, through a symlink)" in refused(path)


def test_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "robot.toml"
    with path.open("wb") as sparse:
        sparse.truncate(50 * 1024 * 1024)  # 50 MiB of holes: no disk used
    message = refused(path)
    assert "50.0 MiB (52,428,800 bytes), over the 1 MiB limit for a config file" in message


def test_a_config_at_the_limit_loads(tmp_path: Path) -> None:
    text = example(tmp_path, "reference_sim.toml").read_text()
    padding = CONFIG_LIMITS.max_bytes - len(text.encode()) - 1
    path = tmp_path / "padded.toml"
    path.write_text(text.replace("[loop]", "#" + "x" * (padding - 1) + "\n[loop]", 1))
    assert path.stat().st_size == CONFIG_LIMITS.max_bytes
    assert load_config(path).loop.rate_hz == 20.0
    path.write_text(path.read_text().replace("#", "##", 1))
    assert "over the 1 MiB limit" in refused(path)


@pytest.mark.parametrize(
    "text",
    ["x = " + "[" * 100_000 + "]" * 100_000, "x = " + "{a=" * 100_000 + "}" * 100_000],
    ids=["arrays", "inline-tables"],
)
def test_deep_nesting(tmp_path: Path, text: str) -> None:
    path = tmp_path / "robot.toml"
    path.write_text(text)
    message = refused(path)
    assert "arrays or tables nested 100000 deep, over the limit of 64 for a config file" in message


def test_nesting_within_the_limit_reaches_the_parser(tmp_path: Path) -> None:
    path = tmp_path / "robot.toml"
    path.write_text("x = " + "[" * 64 + "]" * 64 + '\ns = "[[[[[[[[" # [[[[[[[[[[[\n')
    assert "[bundle] is missing" in refused(path)


def test_a_long_value_is_shown_cut(tmp_path: Path) -> None:
    path = example(
        tmp_path, "reference_sim.toml", ("rate_hz = 20.0", "rate_hz = [" + "1," * 50_000 + "]")
    )
    message = refused(path)
    assert len(message) < 400, message
    assert "(150,000 characters)" in message


def test_an_over_long_integer(tmp_path: Path) -> None:
    path = tmp_path / "robot.toml"
    path.write_text("x = " + "9" * 5000)
    assert "not valid TOML" in refused(path)


@needs_posix
@pytest.mark.slow
@pytest.mark.parametrize("case", ["binary", "dev-zero", "deep", "huge", "fifo"])
def test_robot_check_says_one_line_and_exits_2(tmp_path: Path, case: str) -> None:
    path = tmp_path / "robot.toml"
    if case == "binary":
        path.write_bytes(os.urandom(4096).replace(b"\n", b"\0"))
    elif case == "dev-zero":
        path.symlink_to("/dev/zero")
    elif case == "deep":
        path.write_text("x = " + "[" * 100_000)
    elif case == "huge":
        with path.open("wb") as sparse:
            sparse.truncate(3 * 1024**3)
    else:
        os.mkfifo(path)
    result = subprocess.run(
        [sys.executable, "-m", "robot", "check", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{path}: " in lines[0]
    assert "; give --config a robot.toml" in lines[0]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('policy = "tflite"', 'policy = "{}"'),  # a choice
        ("rate_hz = 20.0", 'rate_hz = "{}"'),  # a number of the wrong type
    ],
)
def test_a_huge_wrong_value_is_shown_cut_to_one_readable_line(
    tmp_path: Path, old: str, new: str
) -> None:
    config = example(tmp_path, "reference_sim.toml", (old, new.format("x" * 200_000)))
    with pytest.raises(ConfigError) as refused_:
        load_config(config)
    message = str(refused_.value)
    assert "\n" not in message and len(message) < 600, message[:600]
    assert "(200,002 characters)" in message
