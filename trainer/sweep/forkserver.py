"""A warm process that forks each trial's train command: TensorFlow is imported once, not per trial.

A new ``python -m trainer train`` spends about 4 s of CPU before its first step, nearly all of
it importing TensorFlow and Keras (docs/benchmarks/sweep.md). On a laptop a sweep of short
trials pays that once per trial, on the same CPUs the other trials train on. The fork server
imports what ``train`` imports (no TensorFlow op runs in it, so TensorFlow has no context and no
thread pool yet), then forks one child per request. The child is the command as a new process
runs it: its own main thread (so Ctrl-C's handler works), its own TensorFlow context made with
the trial's thread counts and environment, the trial's log file as stdout and stderr, the
worker's current directory, its exit code, its exit handlers, and SIGINT when its server ends
while it trains (it saves ``checkpoints/last``). Per seed it trains exactly what ``python -m
trainer train`` trains: the same weights (tests/trainer/sweep/test_forkserver.py).

Two ways to run it (``forkclient.py`` is the other side):

- ``python -m trainer.sweep.forkserver``: one Ray worker's own server, on its stdin/stdout;
- ``python -m trainer.sweep.forkserver --listen SOCKET``: the sweep's shared server, started by
  the driver of a local sweep before Ray, so it warms up while Ray starts. It listens on a Unix
  socket at once and, once warm, forks a session per connection (a Ray worker); each session is
  the loop above on its connection. It stops when its stdin (the driver) closes.

Linux only: forking after importing TensorFlow is not safe where the system's libraries do not
support it (macOS); there ``worker.py`` starts ``python -m trainer`` for each trial.

Protocol, one JSON object per line with the key ``forkserver``: a session or server says
``ready`` once warm; the worker asks ``{"argv", "log", "cwd", "env", "entry"}``; the server
answers the child's ``pid``, then its ``exit`` code. It stops when the worker's end closes (the
worker ended); a child still running then gets SIGINT first. Lines without the key are the
server's own output, kept for the error message should it fail.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import select
import signal
import socket
import sys
import tempfile
import traceback
from typing import Any

POLL_S = 0.2  # how often the server looks for its stdin closing while a child trains
TRAIN = "trainer.cli.main:main"  # what a child runs by default: ``python -m trainer ARGV``
_PR_SET_PDEATHSIG = 1


class Lines:
    """Lines read from a file descriptor without read-ahead a ``select`` could not see."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def next(self, timeout: float | None) -> str | None:
        """The next line ("" at end of file), or None if none came within ``timeout`` seconds."""
        while b"\n" not in self.buffer:
            if timeout is not None and not select.select([self.fd], [], [], timeout)[0]:
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                rest, self.buffer = self.buffer, b""
                return rest.decode(errors="replace")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode(errors="replace") + "\n"


def say(fd: int, **message: Any) -> None:
    """Write one protocol line to ``fd`` (unbuffered: a pipe or a socket)."""
    data = (json.dumps({"forkserver": True, **message}) + "\n").encode()
    while data:
        data = data[os.write(fd, data) :]


def _warm() -> None:
    """Import what ``train`` imports; TensorFlow's start-up noise filtered as the CLI does."""
    from trainer.quiet import quiet_tensorflow

    quiet_tensorflow()
    import keras  # noqa: F401
    import matplotlib  # the learning curve's plot, as trainer/metrics.py draws it
    import tensorflow  # noqa: F401

    matplotlib.use("Agg")
    import matplotlib.pyplot

    import trainer.cli.main
    import trainer.dqn
    import trainer.qlearning
    import trainer.sweep.rank_tasks
    import trainer.sweep.ranking
    import trainer.training  # noqa: F401


def child_signals() -> None:
    """In a trial's child before it runs: signals as in a shell, and SIGINT when its parent dies.

    Ray's worker threads block SIGINT, and a child inherits the mask: unblocked, the train
    command's Ctrl-C handling works. If the parent dies the child gets SIGINT and saves ``last``.
    """
    signal.pthread_sigmask(signal.SIG_UNBLOCK, set(signal.Signals))
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        import ctypes

        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGINT)
    except (OSError, AttributeError):  # not Linux: the periodic checkpoint is what resumes
        pass


def _child(request: dict[str, Any], server: int, channel: int) -> None:
    """In the forked child: become the command, then exit with its code (never returns)."""
    code = 1
    try:
        if channel > 2:  # the worker must see the session's end close when the session ends
            os.close(channel)
        child_signals()
        if os.getppid() != server:  # the server ended before prctl: nobody waits for this run
            os._exit(1)
        null = os.open(os.devnull, os.O_RDONLY)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(null)
        os.close(log)
        os.chdir(request["cwd"])
        os.environ.update(request.get("env", {}))  # before TensorFlow's context reads it
        tempfile.tempdir = None  # TMPDIR as the request's environment says, not the server's
        module, function = request.get("entry", TRAIN).split(":")
        code = getattr(importlib.import_module(module), function)(list(request["argv"]))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        # What a process's normal exit runs (os._exit does not): e.g. TensorFlow's autograph
        # removes its generated modules from TMPDIR there.
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)


def _wait(pid: int, requests: Lines) -> tuple[int, bool]:
    """The child's exit code, and whether the worker ended meanwhile (then SIGINT came first).

    Wakes up as the child exits (a pidfd, Linux 5.3+; else it looks every ``POLL_S``) or as the
    worker's end closes."""
    gone = False
    try:
        exited = [os.pidfd_open(pid)]
    except (AttributeError, OSError):
        exited = []
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status), gone
            watched = exited if gone else [requests.fd, *exited]
            ready = select.select(watched, [], [], POLL_S)[0]
            if requests.fd in ready and requests.next(0) == "":
                os.kill(pid, signal.SIGINT)  # the worker is gone: save the last checkpoint, stop
                gone = True
    finally:
        for fd in exited:
            os.close(fd)


def serve(requests: Lines, answers: int) -> None:
    """Fork one child per request line, one at a time, until the requests end."""
    say(answers, ready=True)
    server = os.getpid()
    while line := requests.next(None):
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request, server, answers)
        say(answers, pid=pid)
        code, gone = _wait(pid, requests)
        say(answers, exit=code)
        if gone:
            return


def listen(path: str) -> None:
    """The shared server: listen on ``path`` now, warm up, then a session per connection."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    say(1, listening=path)
    _warm()
    control = Lines(0)  # the driver's pipe: it closes when the sweep ends
    sessions: set[int] = set()
    try:
        while True:
            readable = select.select([listener, 0], [], [], POLL_S)[0]
            for pid in list(sessions):
                if os.waitpid(pid, os.WNOHANG)[0]:
                    sessions.discard(pid)
            if 0 in readable and control.next(0) == "":
                return
            if listener in readable:
                connection, _ = listener.accept()
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    _session(connection)
                sessions.add(pid)
                connection.close()
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            os.unlink(path)


def _session(connection: socket.socket) -> None:
    """A forked copy of the shared server serving one Ray worker (never returns)."""
    code = 0
    try:
        serve(Lines(connection.fileno()), connection.fileno())
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)


def main(argv: list[str]) -> None:
    """``[--listen SOCKET]``: the shared server, else a worker's own on stdin/stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the children's to handle
    if argv[:1] == ["--listen"]:
        listen(argv[1])
        return
    _warm()
    serve(Lines(0), 1)


if __name__ == "__main__":
    main(sys.argv[1:])
