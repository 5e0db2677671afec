"""``robot dashboard``: the live web view of a run's telemetry, a process apart from the loop."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import threading
from types import FrameType

from robot.cli.exit_codes import EXIT_OK
from robot.config import DashboardConfig, load_config
from robot.dashboard.layout import layout_for
from robot.dashboard.server import Dashboard, make_server
from robot.errors import ConfigError
from robot.runtime.state_dirs import with_writable_defaults

_log = logging.getLogger("robot")


def _on_sighup(signum: int, frame: FrameType | None) -> None:
    # Its default action would end the process, and systemd counts that as clean (no restart).
    _log.info("dashboard: SIGHUP ignored: nothing to reload; restart it to read the config again")


def with_overrides(
    settings: DashboardConfig, args: argparse.Namespace
) -> tuple[DashboardConfig, int]:
    """``settings`` with ``--address``/``--port`` checked as the config's keys are (ConfigError,
    naming the option), and the port to bind: ``--port 0`` (any free port) is allowed on the
    command line only."""
    address = settings.address if args.address is None else args.address
    port = settings.port if args.port is None else args.port
    try:
        # The port's rule runs on a stand-in when 0 asks the system for one.
        checked = dataclasses.replace(settings, address=address, port=port or settings.port)
    except ConfigError as exc:
        raise ConfigError(f"--address/--port: {exc}") from None
    return checked, port


def cmd_dashboard(args: argparse.Namespace) -> int:
    """``dashboard``: serve the page until SIGTERM or SIGINT; ConfigError when it cannot listen."""
    config = with_writable_defaults(load_config(args.config))
    settings, port = with_overrides(config.dashboard, args)
    address = settings.address
    telemetry = config.telemetry.path
    layout, problem = layout_for(config, telemetry)
    if problem is not None:
        _log.warning("dashboard: showing channels and actions by index: %s", problem)
    if not config.telemetry.enabled:
        _log.warning(
            "dashboard: [telemetry] enabled = false in %s: the runtime writes no ticks to "
            "follow; set it to true (and reload the service)",
            config.source,
        )
    dashboard = Dashboard(telemetry, layout)
    try:
        server = make_server(address, port, dashboard, settings.names)
    except OSError as exc:  # the port in use, an address that is not this machine's
        raise ConfigError(
            f"{config.source}: [dashboard] cannot listen on {address}:{port}: "
            f"{exc.strerror or exc}; choose another port (or stop what uses it) or an "
            f"address of this machine (127.0.0.1, 0.0.0.0)"
        ) from None
    bound_port = server.server_address[1]
    host = f"[{address}]" if ":" in address else address
    _log.info(
        "dashboard: http://%s:%d/ following %s (read-only), page refresh %g Hz",
        host,
        bound_port,
        telemetry,
        settings.refresh_hz,
    )
    if address in ("0.0.0.0", "::"):
        _log.info(
            "dashboard: listening on every interface (%s); under sim2pi-dashboard.service the "
            "LAN's packets are dropped unless a drop-in allows them (IPAddressAllow=, "
            "docs/dashboard.md)",
            "IPv4 and IPv6" if address == "::" else "IPv4",
        )

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        # Not an exception raised wherever the main thread happens to be (inside a lock, or the
        # server's own bookkeeping): shutdown() from another thread ends serve_forever's loop.
        threading.Thread(target=server.shutdown, name="dashboard-stop", daemon=True).start()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    previous_hup = signal.signal(signal.SIGHUP, _on_sighup)
    try:
        dashboard.start()
        server.serve_forever(poll_interval=0.25)
        _log.info("dashboard: stopping")
    except KeyboardInterrupt:
        _log.info("dashboard: stopping")
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGHUP, previous_hup)
        server.server_close()
        dashboard.close()
    return EXIT_OK
