"""The same sweep on an existing Ray cluster: a head and a second node started with `ray start`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TINY, trainer, write_spec

pytest.importorskip("ray")
pytestmark = [pytest.mark.trainer, pytest.mark.slow]

RAY = str(Path(sys.executable).with_name("ray"))
#: This cluster runs without Ray's token authentication (on by default for `ray start` since
#: Ray 2.5x): a sweep on a cluster that has it needs Ray's RAY_AUTH_MODE=token and the token.
AUTH = {"RAY_AUTH_MODE": "disabled"}
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **AUTH}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``ray start --block ARGS``: the node lives as long as this process (SIGTERM stops it)."""
    with open(log, "wb") as out:
        return subprocess.Popen([RAY, "start", "--block", *args], env=ENV, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip


def _node_ip() -> str:
    """The address Ray picks for this machine's nodes."""
    from ray.util import get_node_ip_address

    return get_node_ip_address()


def _nodes(address: str) -> int:
    """How many alive nodes the cluster at ``address`` has."""
    code = (
        "import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR', "
        "log_to_driver=False); print(sum(n['Alive'] for n in ray.nodes()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, address],
        env=ENV, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return int(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else 0


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A two-node Ray cluster on this machine, one CPU each; stopped whatever the test did.

    Each node is a ``ray start --block`` process of this test, so stopping it stops exactly the
    Ray processes the test started (``ray stop`` would stop every Ray on the machine).
    """
    logs = tmp_path_factory.mktemp("cluster")
    temp = Path(tempfile.mkdtemp(prefix="s2p-ray-"))  # short: Ray's socket paths must fit
    port = _free_port()
    address = f"{_node_ip()}:{port}"  # where Ray binds on this machine (not always 127.0.0.1)
    common = ["--num-cpus=1", "--disable-usage-stats"]
    nodes: list[subprocess.Popen[bytes]] = []
    try:
        nodes.append(
            _start(
                logs / "head.log",
                "--head",
                f"--port={port}",
                "--include-dashboard=false",
                f"--temp-dir={temp}",
                *common,
            )
        )
        deadline = time.monotonic() + 90
        while _nodes(address) < 1:
            assert nodes[0].poll() is None, (logs / "head.log").read_text()
            assert time.monotonic() < deadline, "the head never started"
            time.sleep(1)
        nodes.append(_start(logs / "worker.log", f"--address={address}", *common))
        while _nodes(address) < 2:
            assert nodes[1].poll() is None, (logs / "worker.log").read_text()
            assert time.monotonic() < deadline, "the second node never joined"
            time.sleep(1)
        yield address
    finally:
        for node in reversed(nodes):
            node.terminate()
            try:
                node.wait(timeout=60)
            except subprocess.TimeoutExpired:
                node.kill()
        shutil.rmtree(temp, ignore_errors=True)


def test_a_sweep_runs_on_an_existing_two_node_cluster(cluster: str, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, TINY + "seeds = [0, 1]\n")
    out = tmp_path / "out"

    done = trainer("sweep", str(spec), "--out", str(out), "--address", cluster, env=AUTH)

    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads((out / "results.json").read_text())
    assert [t["status"] for t in data["trials"]] == ["finished", "finished"]
    assert not (out / "ray_session.txt").exists()  # the cluster's own Ray, not a local one
    for trial in ("t00__s0", "t00__s1"):
        assert (out / "trials" / trial / "summary.json").is_file()
        (result,) = (out / "tune").glob(f"*/{trial}/result.json")
        assert json.loads(result.read_text().splitlines()[-1])["status"] == "finished"
    assert "[2/2]" in done.stdout and "Traceback" not in done.stdout + done.stderr
