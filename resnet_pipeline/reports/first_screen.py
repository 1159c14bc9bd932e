"""The box under a report's headline: the settings its result rests on and, when another
report answers the same question differently, a link to it with the reason."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from resnet_pipeline.ml.evaluation.run_settings import RunSettings

STYLE = """
.rests { background: #f7f7fb; border-left: 4px solid #5561a8; padding: 0.5rem 1rem; }
.rests p { margin: 0.3rem 0; }
"""


@dataclass(frozen=True)
class OtherView:
    """Another report of the same question, and why its result differs from this one's (a
    line such as ``settings_difference`` gives)."""

    path: str
    reason: str
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.path.rsplit("/", 1)[-1]


def first_screen_html(settings: RunSettings, others: Sequence[OtherView] = ()) -> str:
    lines = [f"<p>{html.escape(line)}</p>" for line in settings.lines()]
    for other in others:
        link = f'<a href="{html.escape(other.path)}">{html.escape(other.label)}</a>'
        lines.append(
            f'<p class="other-view">Why this differs from {link}: {html.escape(other.reason)}</p>'
        )
    body = "".join(lines)
    return f'<div class="rests" id="rests-on"><strong>What this rests on</strong>{body}</div>'
