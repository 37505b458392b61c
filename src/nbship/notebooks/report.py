"""Render an audit for people (terminal table, self-contained HTML) and for CI (JSON)."""

from __future__ import annotations

import html
import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nbship.files import atomic_write
from nbship.notebooks.audit import REPRODUCIBLE, AuditReport, Finding, NotebookAudit

TEMPLATES = Path(__file__).with_name("templates")

# Inside each picture, so that an SVG copied out of the page still renders the same.
_SVG_STYLE = """<style>
.step { stroke: #8c959f; stroke-width: 1.5; fill: none; }
.jump { stroke: #cf222e; stroke-width: 3.5; fill: none; }
.hidden { stroke: #fb8500; stroke-width: 2; stroke-dasharray: 5 3; fill: none; }
.cell { fill: #0969da; } .late { fill: #cf222e; }
.never { fill: #fff; stroke: #57606a; stroke-width: 1.5; }
text { font: 11px sans-serif; fill: #57606a; }
</style>"""
_VERDICT_COLOURS = {
    "reproducible": "#1a7f37",
    "runs but differs": "#9a6700",
    "fails": "#cf222e",
    "not executed": "#57606a",
}


def report_to_json(report: AuditReport) -> dict[str, Any]:
    """The report as JSON-ready data: summary, blocking notebooks, per-notebook results."""
    return {
        "summary": report.summary(),
        "blocking": [nb.path for nb in report.blocking()],
        "notebooks": [asdict(nb) for nb in report.notebooks],
    }


def render_table(report: AuditReport) -> str:
    """A terminal table (one row per notebook), the findings, then the studies' summary."""
    header = ("notebook", "kernel", "verdict", "order", "hidden", "errors", "warnings", "feeds")
    rows = [
        (
            nb.path,
            nb.language,
            nb.verdict,
            "out of order" if nb.out_of_order else "ok",
            str(len(nb.hidden_edges)),
            str(nb.count("error")),
            str(nb.count("warning")),
            "service" if nb.feeds_service else "-",
        )
        for nb in report.notebooks
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    for nb in report.notebooks:
        shown = [finding for finding in nb.findings if finding.severity != "info"]
        if shown:
            lines.append("")
            lines.append(f"{nb.path}:")
        for finding in shown:
            where = "" if finding.cell is None else f"cell {finding.cell}"
            if finding.cell_id:
                where += f" ({finding.cell_id})"
            lines.append(
                f"  {finding.severity:7} {finding.check:16} {where + ': ' if where else ''}"
                f"{finding.message}"
            )
    lines.append("")
    lines.append(_summary_line(report))
    return "\n".join(lines)


def render_html(report: AuditReport) -> str:
    """A self-contained HTML page: summary, table, and per notebook its execution-order picture.

    The page is templates/audit.html.j2, rendered by jinja2 with autoescaping on.
    """
    import jinja2  # only the HTML report needs it

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    page = environment.get_template("audit.html.j2")
    return page.render(
        summary=_summary_line(report),
        notebooks=report.notebooks,
        pictures=[execution_svg(nb) if nb.points else "" for nb in report.notebooks],
        colours=_VERDICT_COLOURS,
        where=_where,
    )


def execution_svg(nb: NotebookAudit) -> str:
    """Inline SVG: cell position against execution count, jumps and hidden-state edges marked."""
    points = nb.points
    left, right, top, bottom, step = 48, 16, 24, 36, 34
    width = left + right + step * max(len(points), 1)
    height = 220
    highest = max((p.execution_count or 0 for p in points), default=0) or 1
    plot = height - top - bottom
    x_of = {p.cell: left + step * k + step // 2 for k, p in enumerate(points)}
    arrow = "arrow-" + re.sub(r"[^A-Za-z0-9]+", "-", nb.path)  # ids are page-wide in HTML

    def y_of(count: int | None) -> float:
        return height - bottom - (plot * (count or 0) / highest)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="execution order of {html.escape(nb.path)}">',
        _SVG_STYLE,
        f'<defs><marker id="{arrow}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#fb8500"/></marker></defs>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" '
        'stroke="#57606a"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#57606a"/>',
        f'<text x="{left}" y="{height - 6}">cell position →</text>',
        f'<text x="4" y="{top - 8}">execution count ↑ (max {highest})</text>',
    ]
    late: set[int] = set()
    previous: tuple[float, float] | None = None
    running = 0
    for point in points:
        count = point.execution_count
        if count is None:
            continue
        x, y = x_of[point.cell], y_of(count)
        jump = count <= running
        if jump:
            late.add(point.cell)
        if previous is not None:
            kind = "jump" if jump else "step"
            parts.append(
                f'<line class="{kind}" x1="{previous[0]}" y1="{previous[1]:.1f}" '
                f'x2="{x}" y2="{y:.1f}"/>'
            )
        previous = (x, y)
        running = max(running, count)
    for edge in nb.hidden_edges:
        if edge.use not in x_of or edge.definition not in x_of:
            continue
        x1, x2 = x_of[edge.definition], x_of[edge.use]
        y1 = y_of(_count(nb, edge.definition))
        y2 = y_of(_count(nb, edge.use))
        arc_top = max(top / 2, min(y1, y2) - 40)
        label = html.escape(
            f"cell {edge.use} uses {edge.name!r}, defined later in cell {edge.definition}"
        )
        parts.append(
            f'<path class="hidden" marker-end="url(#{arrow})" d="M{x1},{y1:.1f} '
            f'Q{(x1 + x2) / 2},{arc_top:.1f} {x2},{y2:.1f}"><title>{label}</title></path>'
        )
    for point in points:
        x = x_of[point.cell]
        count = point.execution_count
        kind = "never" if count is None else ("late" if point.cell in late else "cell")
        label = html.escape(
            f"cell {point.cell}: " + ("never run" if count is None else f"[{count}]")
        )
        parts.append(
            f'<circle class="{kind}" cx="{x}" cy="{y_of(count):.1f}" r="5"><title>{label}</title>'
            "</circle>"
        )
        parts.append(f'<text x="{x - 4}" y="{height - bottom + 14}">{point.cell}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _count(nb: NotebookAudit, cell: int) -> int | None:
    return next((p.execution_count for p in nb.points if p.cell == cell), None)


def _where(finding: Finding) -> str:
    """ "cell 3 (id total): ", or "" for a finding about the whole notebook."""
    where = "" if finding.cell is None else f"cell {finding.cell}"
    if finding.cell_id:
        where += f" ({finding.cell_id})"
    return f"{where}: " if where else ""


def _summary_line(report: AuditReport) -> str:
    summary = report.summary()

    def share(key: str) -> str:
        value = summary[key]
        if not value["of"]:
            return "n/a"
        return f"{value['count']}/{value['of']} ({value['share']:.0%})"

    blocking = report.blocking()
    verdicts = ", ".join(f"{name}: {count}" for name, count in summary["verdicts"].items())
    line = (
        f"{summary['notebooks']} notebooks ({verdicts}). Runs without error: "
        f"{share('runs_without_error')}; reproduces its own outputs: "
        f"{share('reproduces_own_outputs')}; out-of-order cells: {share('out_of_order_cells')}."
    )
    if blocking:
        line += " Not reproducible but feeding a service: " + ", ".join(nb.path for nb in blocking)
    elif not report.executed:
        line += " Execution skipped: only the static checks ran."
    elif any(nb.feeds_service for nb in report.notebooks):
        line += f" Every notebook that feeds a service is {REPRODUCIBLE}."
    return line


def save_json(report: AuditReport, path: Path) -> None:
    """Write the JSON report to ``path`` (parent folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(report_to_json(report), indent=2) + "\n")


def save_html(report: AuditReport, path: Path) -> None:
    """Write the HTML report to ``path`` (parent folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, render_html(report))
