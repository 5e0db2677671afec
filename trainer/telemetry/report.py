"""Reports of runs: a PNG, or a self-contained HTML page (the PNG embedded, a summary table)."""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Sequence
from pathlib import Path

from trainer.errors import UsageError
from trainer.telemetry.plot import Labels, build_figure, png_bytes, run_span
from trainer.telemetry.read import Run
from trainer.telemetry.summary import RunSummary, summarize, table_rows

#: What ``--out`` may end with.
SUFFIXES = (".png", ".html")


def report_paths(out: Path, runs: int) -> list[Path]:
    """Where each run's report goes: ``out`` for the first, ``NAME-2.EXT``, ``NAME-3.EXT`` …"""
    if out.suffix.lower() not in SUFFIXES:
        raise UsageError(
            f"--out {out}: expected a name ending in .png or .html, found "
            f"{out.suffix or 'no suffix'!r}; e.g. --out run.png"
        )
    return [
        out if n == 1 else out.with_name(f"{out.stem}-{n}{out.suffix}") for n in range(1, runs + 1)
    ]


def html_page(summary: RunSummary, png: bytes, title: str, sources: Sequence[Path]) -> str:
    """A self-contained page: the figure (PNG, base64) and the run's summary table."""
    rows = "\n".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
        for name, value in table_rows(summary)
    )
    files = ", ".join(html.escape(str(p)) for p in sources)
    image = base64.b64encode(png).decode("ascii")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }}
img {{ max-width: 100%; }}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>From {files}.</p>
<table id="summary">
{rows}
</table>
<img alt="telemetry panels of run {summary.number}" src="data:image/png;base64,{image}">
</body>
</html>
"""


def write_reports(
    runs: Sequence[Run],
    out: Path,
    labels: Labels | None = None,
    report: Callable[[RunSummary, Path], None] = lambda summary, path: None,
) -> list[Path]:
    """Write one report per run (PNG or HTML by ``out``'s suffix); the paths written.

    ``report`` is told each run's summary and path as it is written.
    """
    paths = report_paths(out, len(runs))
    for run, path in zip(runs, paths, strict=True):
        summary = summarize(run)
        title = f"sim2pi telemetry: run {run.number} of {len(runs)}"
        figure = build_figure(run, labels, title=f"{title} ({run_span(run)})")
        png = png_bytes(figure)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix.lower() == ".html":
                path.write_text(html_page(summary, png, title, run.files), encoding="utf-8")
            else:
                path.write_bytes(png)
        except OSError as exc:
            raise UsageError(f"--out {path}: cannot write it ({exc.strerror})") from None
        report(summary, path)
    return paths
