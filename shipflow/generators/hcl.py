"""A small HCL writer whose output is already ``terraform fmt``-clean.

Values are data: ``str`` (quoted and escaped, ``${`` kept literal), ``bool``, ``int``,
``float``, ``list``, ``dict`` (an object) and :class:`Expr` (an expression written as is:
references, function calls, templates). Bodies hold :class:`Attr`, :class:`Block`,
:class:`Blank` and :class:`Comment`. Alignment follows ``terraform fmt``: the ``=`` of
consecutive single-line attributes line up; a blank line, a block or a multi-line value ends
the group.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Union

INDENT = "  "


@dataclass(frozen=True)
class Expr:
    """An HCL expression written as is: ``var.name``, ``"${var.name}-db"``, ``merge(…)``."""

    text: str


# A recursive alias needs Union with string forward references (X | "Y" fails at runtime).
Value = Union[str, bool, int, float, Expr, Sequence["Value"], Mapping[str, "Value"], None]  # noqa: UP007


@dataclass(frozen=True)
class Attr:
    name: str
    value: Value


@dataclass(frozen=True)
class Blank:
    pass


@dataclass(frozen=True)
class Comment:
    text: str


@dataclass(frozen=True)
class Block:
    type: str
    labels: tuple[str, ...] = ()
    body: tuple[Item, ...] = field(default_factory=tuple)


Item = Union[Attr, Block, Blank, Comment]  # noqa: UP007  (Block refers to Item before this line)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def block(type_: str, *labels: str, body: Sequence[Item] = ()) -> Block:
    return Block(type_, tuple(labels), tuple(body))


def attrs(**values: Value) -> list[Item]:
    """Attributes in keyword order (``for_each`` and friends spelled with a trailing ``_``)."""
    return [Attr(k.rstrip("_"), v) for k, v in values.items()]


def quote(text: str) -> str:
    """An HCL string literal: JSON escapes, and ``${``/``%{`` doubled so they stay literal."""
    return json.dumps(text).replace("${", "$${").replace("%{", "%%{")


def _key(name: str) -> str:
    return name if _IDENT.match(name) else quote(name)


def _value(value: Value, depth: int) -> str:
    if isinstance(value, Expr):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        pad = INDENT * (depth + 1)
        entries = _aligned([(_key(k), v) for k, v in value.items()], depth + 1)
        return "{\n" + "".join(pad + e + "\n" for e in entries) + INDENT * depth + "}"
    items = [_value(v, depth + 1) for v in value]
    one_line = "[" + ", ".join(items) + "]"
    if "\n" not in one_line and len(one_line) <= 80:
        return one_line
    pad = INDENT * (depth + 1)
    return "[\n" + "".join(f"{pad}{i},\n" for i in items) + INDENT * depth + "]"


def _aligned(pairs: Sequence[tuple[str, Value]], depth: int) -> list[str]:
    """``key = value`` entries, the ``=`` aligned within runs of single-line values.

    An entry's first line carries no indentation; its further lines (a multi-line value) are
    indented absolutely already.
    """
    rendered = [(k, _value(v, depth)) for k, v in pairs]
    lines: list[str] = []
    run: list[tuple[str, str]] = []

    def flush() -> None:
        width = max((len(k) for k, _ in run), default=0)
        lines.extend(f"{k.ljust(width)} = {v}" for k, v in run)
        run.clear()

    for key, text in rendered:
        if "\n" in text:
            flush()
            lines.append(f"{key} = {text}")
        else:
            run.append((key, text))
    flush()
    return lines


def _body(items: Sequence[Item], depth: int) -> list[str]:
    pad = INDENT * depth
    out: list[str] = []
    pending: list[tuple[str, Value]] = []

    def flush() -> None:
        out.extend(pad + entry for entry in _aligned(pending, depth))
        pending.clear()

    for item in items:
        if isinstance(item, Attr):
            pending.append((_key(item.name), item.value))
            continue
        flush()
        if isinstance(item, Blank):
            out.append("")
        elif isinstance(item, Comment):
            out.extend(f"{pad}# {line}".rstrip() for line in item.text.splitlines())
        else:
            out.extend(_block(item, depth))
    flush()
    return out


def _block(b: Block, depth: int) -> list[str]:
    pad = INDENT * depth
    head = " ".join([b.type, *(quote(label) for label in b.labels)])
    if not b.body:
        return [f"{pad}{head} {{}}"]
    return [f"{pad}{head} {{", *_body(b.body, depth + 1), f"{pad}}}"]


def render(items: Sequence[Item]) -> str:
    """A whole file: top-level blocks separated by one blank line."""
    chunks: list[str] = []
    loose: list[Item] = []  # top-level attributes and comments (tfvars) align together
    for item in items:
        if isinstance(item, Block):
            if loose:
                chunks.append("\n".join(_body(loose, 0)))
                loose = []
            chunks.append("\n".join(_block(item, 0)))
        else:
            loose.append(item)
    if loose:
        chunks.append("\n".join(_body(loose, 0)))
    text = "\n\n".join(chunks)
    # A comment directly above the block it describes, not separated from it.
    text = re.sub(r"(^# [^\n]*)\n\n", r"\1\n", text, flags=re.M)
    return text + "\n"
