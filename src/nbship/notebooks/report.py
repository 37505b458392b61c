"""Render an audit for people (terminal table, self-contained HTML) and for CI (JSON)."""

from __future__ import annotations

import html
import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nbship.notebooks.audit import REPRODUCIBLE, AuditReport, NotebookAudit

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
    """A self-contained HTML page: summary, table, and per notebook its execution-order picture."""
    summary = html.escape(_summary_line(report))
    rows = "\n".join(_html_row(nb) for nb in report.notebooks)
    sections = "\n".join(_html_section(nb) for nb in report.notebooks)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>nbship notebook audit</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #1f2328; }}
table {{ border-collapse: collapse; }}
th, td {{ border-bottom: 1px solid #d0d7de; padding: .3em .8em; text-align: left; }}
.verdict {{ color: #fff; border-radius: 1em; padding: .1em .7em; white-space: nowrap; }}
section {{ margin-top: 2.5em; border-top: 2px solid #d0d7de; }}
li.error {{ color: #cf222e; }} li.warning {{ color: #9a6700; }} li.info {{ color: #57606a; }}
svg {{ background: #f6f8fa; border: 1px solid #d0d7de; margin: .5em 0; }}
</style>
</head>
<body>
<h1>Notebook audit</h1>
<p>{summary}</p>
<table>
<tr><th>notebook</th><th>kernel</th><th>verdict</th><th>cell order</th><th>hidden state</th>
<th>errors</th><th>warnings</th><th>feeds a service</th></tr>
{rows}
</table>
<p>In each picture a dot is a code cell: across, its position in the notebook; up, its saved
execution count (hollow dots on the axis were never run). A red line is an out-of-order jump; an
orange dashed arc runs from a cell that defines a name to an earlier cell that uses it.</p>
{sections}
</body>
</html>
"""


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


def _html_row(nb: NotebookAudit) -> str:
    cells = [
        html.escape(nb.path),
        html.escape(nb.language),
        _badge(nb.verdict),
        "out of order" if nb.out_of_order else "in order",
        str(len(nb.hidden_edges)),
        str(nb.count("error")),
        str(nb.count("warning")),
        "yes" if nb.feeds_service else "no",
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _html_section(nb: NotebookAudit) -> str:
    items = []
    for finding in nb.findings:
        where = "" if finding.cell is None else f"cell {finding.cell}"
        if finding.cell_id:
            where += f" ({finding.cell_id})"
        text = f"{finding.check}: {where + ': ' if where else ''}{finding.message}"
        items.append(f'<li class="{finding.severity}">{html.escape(text)}</li>')
    findings = "<ul>" + "\n".join(items) + "</ul>" if items else "<p>No findings.</p>"
    picture = execution_svg(nb) if nb.points else "<p>No code cells.</p>"
    return (
        f"<section><h2>{html.escape(nb.path)} {_badge(nb.verdict)}</h2>\n{picture}\n{findings}"
        "</section>"
    )


def _badge(verdict: str) -> str:
    colour = _VERDICT_COLOURS.get(verdict, "#57606a")
    return f'<span class="verdict" style="background:{colour}">{html.escape(verdict)}</span>'


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
    path.write_text(json.dumps(report_to_json(report), indent=2) + "\n", encoding="utf-8")


def save_html(report: AuditReport, path: Path) -> None:
    """Write the HTML report to ``path`` (parent folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
