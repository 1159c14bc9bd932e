"""One self-contained HTML page for every report: the headline first, then the plots, then
the tables (each in a box that scrolls sideways instead of overflowing), then the notes."""

from __future__ import annotations

import html
from dataclasses import dataclass

from resnet_pipeline.reports.first_screen import STYLE as FIRST_SCREEN_STYLE
from resnet_pipeline.reports.plots import data_uri, png_markdown
from resnet_pipeline.verdicts import BETTER, NO_DIFFERENT, UNDEFINED, WORSE, Headline

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222;
       padding: 0 1rem; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
.scroll { overflow-x: auto; max-width: 100%; margin-bottom: 1.5rem; }
.met, .better { color: #11772d; font-weight: 600; }
.missed, .worse { color: #b3261e; font-weight: 600; }
.undefined, .nodiff { color: #6b5900; font-weight: 600; }
.neutral { color: #666; font-weight: 600; }
.note { background: #f5f5f5; padding: 0.6rem 1rem; border-left: 4px solid #888; }
.headline { border: 2px solid #b3261e; border-radius: 6px; padding: 0.8rem 1.2rem; margin: 1rem 0; }
.headline.edge { border-color: #11772d; }
.headline h2 { margin: 0 0 0.4rem; font-size: 1.8rem; }
figure { margin: 1rem 0 2rem; }
figcaption { color: #555; font-size: 0.9rem; }
img { max-width: 100%; }
"""


@dataclass(frozen=True)
class Figure:
    """A plot: ``name`` is its metadata key and its id in the page."""

    name: str
    title: str
    png: bytes
    caption: str = ""

    def markdown(self) -> str:
        return png_markdown(self.png, self.title)


def _word_class(line: str) -> str:
    if f": {BETTER} (" in line:
        return "better"
    if f": {WORSE} (" in line:
        return "worse"
    if f": {UNDEFINED} (" in line:
        return "undefined"
    if f": {NO_DIFFERENT} (" in line:
        return "nodiff"
    return "fact"


def headline_html(headline: Headline) -> str:
    items = "".join(
        f'<li class="{_word_class(line)}">{html.escape(line)}</li>' for line in headline.lines()
    )
    css = "headline edge" if headline.edge else "headline"
    rule = f"<p>{html.escape(headline.rule)}</p>" if headline.rule else ""
    return f'<div class="{css}" id="headline"><h2>{headline.title}</h2>{rule}<ul>{items}</ul></div>'


def items(lines: list[str] | tuple[str, ...]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in lines) + "</ul>"


def figure_html(figure: Figure) -> str:
    caption = f"<figcaption>{html.escape(figure.caption)}</figcaption>" if figure.caption else ""
    return (
        f'<figure id="{figure.name}"><h3>{html.escape(figure.title)}</h3>'
        f'<img alt="{html.escape(figure.title)}" data-plot="{figure.name}" '
        f'src="{data_uri(figure.png)}">{caption}</figure>'
    )


def page(
    title: str,
    lead: str,
    headline: Headline,
    figures: list[Figure],
    tables: list[tuple[str, str]],
    notes: list[str],
    closing: list[tuple[str, list[str]]] = (),
    rests_on: str = "",
) -> str:
    """``tables``: (title, table HTML) pairs; ``closing``: (title, lines) sections at the end
    (conventions, how the numbers are made); ``rests_on``: the box under the headline
    (``first_screen``: the settings the result rests on, the other view)."""
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(lead)}</p>",
        headline_html(headline),
        rests_on,
        f'<div class="note">{items(notes)}</div>' if notes else "",
        "<h2>Plots</h2>",
        *(figure_html(f) for f in figures),
        "<h2>Tables</h2>",
        *(f'<h3>{html.escape(t)}</h3><div class="scroll">{body}</div>' for t, body in tables),
        *(f"<h2>{html.escape(t)}</h2>{items(lines)}" for t, lines in closing),
    ]
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}{FIRST_SCREEN_STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
