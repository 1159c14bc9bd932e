"""HTML tables of report rows: every value through ``number_format``, verdict cells coloured
and never blank."""

from __future__ import annotations

import html

from resnet_pipeline.number_format import number
from resnet_pipeline.verdicts import verdict_tone


def _cell(value: object) -> str:
    return html.escape(number(value))


def table(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c)
            if c == "verdict":  # met / not met (why) / not defined (why): never blank
                css = verdict_tone(row)
                cells.append(f'<td class="{css}">{html.escape(str(value))}</td>')
            else:
                cells.append(f"<td>{_cell(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"
