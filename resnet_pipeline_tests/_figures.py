"""Figures read back from the text an asset shows in the UI ('5,000', '25%', '0.2134',
'12 min', '858 d 17 h ago'), so a test compares them with what the data says."""

from __future__ import annotations

import re

_NUMBER = re.compile(r"-?[\d,]*\.?\d+(?:e[-+]?\d+)?")
_PARTS = {"d": 24 * 60, "h": 60, "min": 1}


def value_of(text: object) -> float:
    """The number in a figure's text; a percentage as its share."""
    shown = str(text)
    found = _NUMBER.search(shown)
    assert found, f"no number in {shown!r}"
    value = float(found.group().replace(",", ""))
    return value / 100 if shown.rstrip().endswith("%") else value


def minutes_of(text: object) -> float:
    """'858 d 17 h ago' -> minutes."""
    parts = re.findall(r"(-?[\d,.]+) (d|h|min)\b", str(text))
    assert parts, f"no duration in {text!r}"
    return sum(float(n.replace(",", "")) * _PARTS[unit] for n, unit in parts)
