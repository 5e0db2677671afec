"""``python -m trainer``: one module per subcommand, each with ``add_parser`` and ``run``.

A subcommand module defines ``add_parser(subparsers) -> argparse.ArgumentParser`` (setting
``func`` to its ``run(args) -> int``); ``SUBCOMMANDS`` lists them in ``--help`` order, so adding
``export`` or ``eval-bundle`` is one module and one line here.
"""

from __future__ import annotations

SUBCOMMANDS = (
    "trainer.cli.train",
    "trainer.cli.evaluate",
    "trainer.cli.export",
    "trainer.cli.eval_bundle",
    "trainer.cli.sil",
    "trainer.cli.sweep",
    "trainer.cli.plot_telemetry",
    "trainer.cli.fit_robot",
)
