"""A small Groovy writer for declarative Jenkinsfiles: a tree of blocks, steps and strings.

Strings are quoted here and nowhere else: single-quoted (no interpolation) unless a string is
marked ``interpolate`` (then only its ``${…}`` placeholders reach Groovy; every other ``$`` is
escaped for the shell), triple-quoted when multi-line. A block renders as ``name(arg) {``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

INDENT = "    "


@dataclass(frozen=True)
class Str:
    value: str
    interpolate: bool = False


@dataclass(frozen=True)
class Raw:
    """Groovy text written as is (named arguments, lists, ``any``)."""

    text: str


@dataclass(frozen=True)
class Step:
    """``name arg``: a directive or a step with one argument."""

    name: str
    arg: Str | Raw


@dataclass(frozen=True)
class Assign:
    """``NAME = value`` (``environment`` entries)."""

    name: str
    value: Str | Raw


@dataclass
class Block:
    """``name(arg) { params -> children }``; ``arg`` None renders ``name {``."""

    name: str
    arg: Str | Raw | None = None
    children: list[Node] = field(default_factory=list)
    params: str | None = None


Node = Block | Step | Assign | Raw


def quote(value: str) -> str:
    """A single-quoted Groovy string literal (no interpolation)."""
    if "\n" in value:
        escaped = value.replace("\\", "\\\\").replace("'''", "\\'\\'\\'")
        return "'''\\\n" + escaped + "'''"
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def gstring(value: str) -> str:
    """A double-quoted Groovy string: ``${…}`` is Groovy's, any other ``$`` the shell's."""
    parts = re.split(r"(\$\{[A-Za-z_][\w.]*\})", value)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(part)
        else:
            out.append(part.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$"))
    text = "".join(out)
    if "\n" in value:
        return '"""\\\n' + text + '"""'
    return '"' + text + '"'


def _value(node: Str | Raw) -> str:
    if isinstance(node, Raw):
        return node.text
    return gstring(node.value) if node.interpolate else quote(node.value)


def render(node: Node, depth: int = 0) -> str:
    """The Groovy text of ``node`` and its children, indented four spaces a level."""
    pad = INDENT * depth
    if isinstance(node, Raw):
        return "".join(f"{pad}{line}\n" if line else "\n" for line in node.text.splitlines())
    if isinstance(node, Step):
        return f"{pad}{node.name} {_value(node.arg)}\n"
    if isinstance(node, Assign):
        return f"{pad}{node.name} = {_value(node.value)}\n"
    head = node.name if node.arg is None else f"{node.name}({_value(node.arg)})"
    params = f" {node.params} ->" if node.params else ""
    body = "".join(render(child, depth + 1) for child in node.children)
    return f"{pad}{head} {{{params}\n{body}{pad}}}\n"
