"""The Ray worker's and the driver's side of the fork server (``forkserver.py``).

A worker asks for its trial's train command (and then its ranking) with ``server_for(env,
shared)``: the sweep's shared server when the driver started one on this machine (``shared`` is
its socket), else a server of the worker's own, started and warmed on its first trial and kept
for the next ones (Tune reuses the worker). ``ForkedTrain`` is the child: the parts of
``subprocess.Popen`` a trial uses.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from trainer.sweep.forkserver import TRAIN, Lines

SOCKET_NAME = "forkserver.sock"


class ForkServerError(RuntimeError):
    """The fork server could not start or stopped answering; the message says what it printed."""


def supported() -> bool:
    """Whether trials are forked from a warm server here (Linux), not started as new processes."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


class ForkedTrain:
    """One command forked by the server: the parts of ``subprocess.Popen`` a trial uses."""

    def __init__(self, server: ForkServer, pid: int) -> None:
        self.server = server
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code once the child has ended, else None (does not block)."""
        return self.wait(timeout=0)

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code once the child has ended; None if it still runs after ``timeout`` s."""
        if self.returncode is None:
            code = self.server.answer("exit", timeout=timeout)
            self.returncode = None if code is None else int(code)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Signal the child while it runs."""
        if self.poll() is None:
            os.kill(self.pid, signum)


class ForkServer:
    """A connection to a fork server: a new one of this process's own (its environment ``env``),
    or a session of the shared one at ``shared``; ``env`` also goes to every child it forks."""

    def __init__(self, env: dict[str, str], shared: str | None = None) -> None:
        self.env = env
        self.output: list[str] = []
        self.process: subprocess.Popen[bytes] | None = None
        self.connection: socket.socket | None = None
        if shared is not None:
            self.connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.connection.connect(shared)
            fd = self.connection.fileno()
        else:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "trainer.sweep.forkserver"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
            )
            assert self.process.stdout is not None
            fd = self.process.stdout.fileno()
        self.lines = Lines(fd)
        self.answer("ready")

    def alive(self) -> bool:
        """Whether the server still answers (as far as this side can tell without asking)."""
        if self.process is not None:
            return self.process.poll() is None
        return self.connection is not None

    def answer(self, key: str, timeout: float | None = None) -> Any:
        """The value of the next answer carrying ``key`` (None if none came within ``timeout``
        seconds); other output is kept for the error message."""
        while line := self.lines.next(timeout):
            try:
                message = json.loads(line)
            except ValueError:
                message = None
            if isinstance(message, dict) and message.get("forkserver") and key in message:
                return message[key]
            self.output.append(line.rstrip())
        if line is None:
            return None
        code = "(connection closed)"
        if self.process is not None:
            code = str(self.process.wait())
        else:
            self.close()
        said = "; ".join(self.output[-3:]) or "nothing"
        raise ForkServerError(f"the trial fork server exited {code} (it printed: {said})")

    def start(self, argv: list[str], log: str, entry: str = TRAIN) -> ForkedTrain:
        """Fork ``entry`` (``module:function``, called with ``argv``; by default
        ``python -m trainer ARGV``) with its output appended to ``log``."""
        request = {"argv": argv, "log": log, "cwd": os.getcwd(), "entry": entry, "env": self.env}
        data = (json.dumps(request) + "\n").encode()
        try:
            if self.connection is not None:
                self.connection.sendall(data)
            else:
                assert self.process is not None and self.process.stdin is not None
                self.process.stdin.write(data)
                self.process.stdin.flush()
        except OSError as error:
            raise ForkServerError(f"the trial fork server is gone ({error})") from error
        return ForkedTrain(self, int(self.answer("pid")))

    def close(self) -> None:
        """Stop this server, or end this session of the shared one."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        if self.process is not None:
            if self.process.stdin is not None:
                self.process.stdin.close()
            self.process.wait()


class SharedServer:
    """The shared server a local sweep's driver starts before Ray: warm by the time trials run."""

    def __init__(self, env: dict[str, str]) -> None:
        self.directory = tempfile.mkdtemp(prefix="sim2pi-fork-")  # short: a socket path
        self.path = str(Path(self.directory) / SOCKET_NAME)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "trainer.sweep.forkserver", "--listen", self.path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        assert self.process.stdout is not None
        line = Lines(self.process.stdout.fileno()).next(None) or ""
        if '"listening"' not in line:
            self.close()
            raise ForkServerError(f"the shared fork server did not start (it printed: {line!r})")

    def close(self) -> None:
        """Stop it (its stdin closes: no new sessions; running ones end with their workers)."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait()
        Path(self.path).unlink(missing_ok=True)
        os.rmdir(self.directory)


_servers: dict[str, ForkServer] = {}


def server_for(env: dict[str, str], shared: str | None = None) -> ForkServer:
    """This process's server for ``env``: a session of the shared one when it is there, else one
    of its own, started (and warmed) on the first call."""
    key = json.dumps([env, shared], sort_keys=True)
    server = _servers.get(key)
    if server is None or not server.alive():
        for old in _servers.values():
            old.close()
        _servers.clear()
        server = None
        if shared is not None and os.path.exists(shared):
            try:
                server = ForkServer(env, shared)
            except (OSError, ForkServerError):  # gone or refused: a server of this worker's own
                server = None
        _servers[key] = server = server or ForkServer(env)
    return server
