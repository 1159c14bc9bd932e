"""YAML read as data, bounded: a small hand-written file, never a program.

``read_yaml`` refuses what plain ``yaml.safe_load`` accepts and a person never means: aliases
and anchors (a 473-byte "billion laughs" expands to gigabytes), duplicate keys (PyYAML keeps
the last silently), text that is not UTF-8, and files too large, too deep or with too many
values to read in well under a second. Each refusal is ``YamlRefused``: one sentence saying
what is wrong and where (line and column), with quoted values cut to ``QUOTE_CHARS``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent

# A real experiment file is a few kilobytes; 1 MiB is far above any and still scans in well
# under a second. Checked on the bytes, before the file is decoded or parsed.
MAX_FILE_BYTES = 1024 * 1024
# Sections nest four deep (top, base, section, field value); 20 leaves room for list values
# and stops "[[[[..." before Python's recursion limit does.
MAX_DEPTH = 20
# Values (scalars, lists and mappings) in one file: a 1,000-variant file is about 5,000; the
# cap bounds the pure-Python parse to a fraction of a second whatever the file holds.
MAX_NODES = 20_000
# A value echoed in a message is cut to this many characters.
QUOTE_CHARS = 80


class YamlRefused(ValueError):
    """A file that is not bounded, UTF-8, alias-free YAML; the message says what and where."""


def cut(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def quoted(value: Any, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters: a value from the file, in a message."""
    return cut(repr(value), limit)


def _at(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "?"


class BoundedLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses (``YamlRefused``) aliases, anchors, duplicate keys, files too
    deep or with too many values, and a scalar that cannot be built (``2024-13-45``)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            raise YamlRefused(
                f"an alias (*{cut(event.anchor)}) at {_at(event.start_mark)}: aliases and "
                "anchors are not allowed in an experiment file; write the value out"
            )
        if isinstance(event, ScalarEvent | CollectionStartEvent) and event.anchor is not None:
            raise YamlRefused(
                f"an anchor (&{cut(event.anchor)}) at {_at(event.start_mark)}: aliases and anchors "
                "are not allowed in an experiment file; write the value out"
            )
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise YamlRefused(
                f"more than {MAX_NODES:,} values (at {_at(event.start_mark)}): an experiment "
                "file is small; split it into several experiments"
            )
        if self._depth >= MAX_DEPTH:
            raise YamlRefused(
                f"nested more than {MAX_DEPTH} levels deep at {_at(event.start_mark)}: an "
                "experiment file is sections of fields; flatten the value"
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:
                continue  # unhashable: the base class refuses it with its own message
            if first is not key_node:
                raise YamlRefused(
                    f"the key {quoted(key)} appears twice (line {first.start_mark.line + 1} "
                    f"and {_at(key_node.start_mark)}): keep one"
                )
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as error:
            if isinstance(error, YamlRefused):
                raise
            raise YamlRefused(
                f"the value {quoted(node.value)} at {_at(node.start_mark)} cannot be read "
                f"({cut(str(error))}): quote it or fix it"
            ) from None


def _decoded(data: bytes) -> str:
    """The text of ``data`` as UTF-8 (a byte-order mark allowed), or why it is not."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise YamlRefused(
            "not UTF-8 text: it starts with a UTF-16 byte-order mark; save it as UTF-8"
        )
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise YamlRefused(
            f"not UTF-8 text: a NUL byte on line {line} (UTF-16, or not text at all); save it "
            "as UTF-8"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise YamlRefused(
            f"not UTF-8 text: byte 0x{data[error.start]:02x} on line {line} cannot be decoded "
            "(Latin-1 or another code page?); save it as UTF-8"
        ) from None


def _problem(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.reader.ReaderError):
        return (
            f"the character {quoted(chr(error.character))} at position {error.position} is not "
            "allowed in YAML; remove it"
        )
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or type(error).__name__
    context = getattr(error, "context", None)
    where = f" at {_at(mark)}" if mark is not None and _at(mark) not in problem else ""
    if context:
        problem = f"{problem} {context}"
    return f"not valid YAML{where}: {cut(problem, 4 * QUOTE_CHARS)}; fix the file"


def read_yaml(path: Path) -> Any:
    """The one document in ``path`` as plain data (dicts, lists, scalars); ``YamlRefused``
    when it is too large, not UTF-8, not YAML, or uses what a data file must not."""
    with path.open("rb") as stream:
        data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise YamlRefused(
            f"larger than {MAX_FILE_BYTES // 1024:,} KiB: an experiment file is a few "
            "kilobytes; split it into several experiments"
        )
    text = _decoded(data)
    try:
        loader = BoundedLoader(text)  # the reader refuses control characters here
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        raise YamlRefused(_problem(error)) from None
