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
#: Reports written when neither ``--run`` nor ``--last`` says which (a crash-looping robot's
#: file can hold hundreds of runs): the last ones.
DEFAULT_LAST = 20


def check_out(out: Path) -> None:
    """UsageError unless ``out`` ends in .png or .html and its nearest existing parent is a
    directory (it is created below that)."""
    if out.suffix.lower() not in SUFFIXES:
        raise UsageError(
            f"--out {out}: expected a name ending in .png or .html, found "
            f"{out.suffix or 'no suffix'!r}; e.g. --out run.png"
        )
    for parent in out.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(
                    f"--out {out}: its parent {parent} is not a directory (found a file); "
                    f"expected a directory or a path that can be created; choose another --out"
                )
            return


def report_path(out: Path, number: int) -> Path:
    """Where run ``number``'s report goes: ``out`` for run 1, ``NAME-N.EXT`` for run N."""
    return out if number == 1 else out.with_name(f"{out.stem}-{number}{out.suffix}")


def chosen_runs(runs: Sequence[Run], run: int | None, last: int | None) -> list[Run]:
    """The runs to report: run number ``run``, or the ``last`` N, or the last ``DEFAULT_LAST``.

    UsageError for a run number the telemetry does not have.
    """
    if run is not None:
        if not 1 <= run <= len(runs):
            raise UsageError(
                f"--run {run}: expected a run number in 1..{len(runs)} (the telemetry has "
                f"{len(runs)} run{'s' if len(runs) != 1 else ''}); e.g. --run {len(runs)}"
            )
        return [runs[run - 1]]
    return list(runs[-(last or DEFAULT_LAST) :])


def html_page(
    summary: RunSummary,
    png: bytes,
    title: str,
    sources: Sequence[Path],
    others: Sequence[tuple[int, Path]] = (),
) -> str:
    """A self-contained page: the figure (PNG, base64), the run's summary table, and links to
    the ``others`` (run number, path) written beside it."""
    rows = "\n".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
        for name, value in table_rows(summary)
    )
    files = ", ".join(html.escape(str(p)) for p in sources)
    links = ", ".join(
        f'<a href="{html.escape(path.name)}">run {number}: {html.escape(path.name)}</a>'
        for number, path in others
    )
    other_reports = f"\n<p>Other reports: {links}.</p>" if links else ""
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
<p>From {files}.</p>{other_reports}
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
    total_runs: int | None = None,
) -> list[Path]:
    """Write one report per run (PNG or HTML by ``out``'s suffix, named by ``report_path``);
    the paths written. ``total_runs``: how many the telemetry has (default: ``len(runs)``).

    ``report`` is told each run's summary and path as it is written.
    """
    check_out(out)
    total = len(runs) if total_runs is None else total_runs
    paths = [report_path(out, run.number) for run in runs]
    for run, path in zip(runs, paths, strict=True):
        summary = summarize(run)
        title = f"sim2pi telemetry: run {run.number} of {total}"
        figure = build_figure(run, labels, title=f"{title} ({run_span(run)})")
        png = png_bytes(figure)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix.lower() == ".html":
                others = [(r.number, p) for r, p in zip(runs, paths, strict=True) if r is not run]
                page = html_page(summary, png, title, run.files, others)
                path.write_text(page, encoding="utf-8")
            else:
                path.write_bytes(png)
        except OSError as exc:
            raise UsageError(
                f"--out {path}: cannot write it ({exc.strerror}); expected a writable path; "
                f"choose another --out"
            ) from None
        report(summary, path)
    return paths
