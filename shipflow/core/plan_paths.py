"""Attribute paths of a change, in Terraform's notation, never with values.

``a.b[0].c`` for object attributes and list positions, ``tags["Name"]`` for map keys, and
``ingress[*]`` for an element of a set (a set has no positions: an element that changed is one
removed and one added, so it is named as "an element of", never by a position that means
nothing). A path stops at a sensitive value: below it, neither keys nor values appear. A value
known only after apply (``after_unknown`` at any depth) counts as changed.

The plan JSON does not say whether a JSON object is a map or an object, or a JSON array a list
or a set. The provider schemas (``terraform providers schema -json``) do, and
:func:`shapes_from_schemas` turns them into :class:`Shape` trees. Without a shape, an object key
that is an identifier is an attribute (``a.b``), any other key a map key (``a["b/c"]``), and an
array is a list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["object", "map", "list", "set", "tuple", "leaf", "dynamic"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class Shape:
    """What a value is in Terraform's type system, as far as paths need to know."""

    kind: Kind
    attributes: Mapping[str, Shape] = field(default_factory=dict)  # object
    element: Shape | None = None  # map, list, set
    elements: tuple[Shape, ...] = ()  # tuple

    def child(self, step: str | int) -> Shape | None:
        if self.kind == "object" and isinstance(step, str):
            return self.attributes.get(step)
        if self.kind in ("map", "list", "set"):
            return self.element
        if self.kind == "tuple" and isinstance(step, int) and step < len(self.elements):
            return self.elements[step]
        return None


DYNAMIC = Shape("dynamic")
LEAF = Shape("leaf")

# A resource's shape is keyed by (provider name, mode, type), as the plan names them.
ShapeKey = tuple[str, str, str]


def shapes_from_schemas(schemas: Mapping[str, Any]) -> dict[ShapeKey, Shape]:
    """Shapes of every resource and data source in ``providers schema -json`` output."""
    found: dict[ShapeKey, Shape] = {}
    providers = schemas.get("provider_schemas") or {}
    for provider, schema in providers.items() if isinstance(providers, Mapping) else ():
        if not isinstance(schema, Mapping):
            continue
        for mode, key in (("managed", "resource_schemas"), ("data", "data_source_schemas")):
            for type_name, resource in (schema.get(key) or {}).items():
                if isinstance(resource, Mapping):
                    found[(provider, mode, type_name)] = _block(resource.get("block") or {})
    return found


def _block(block: Mapping[str, Any]) -> Shape:
    attributes: dict[str, Shape] = {}
    for name, attr in (block.get("attributes") or {}).items():
        if "nested_type" in attr:
            attributes[name] = _nested(attr["nested_type"])
        else:
            attributes[name] = _type(attr.get("type"))
    for name, nested in (block.get("block_types") or {}).items():
        inner = _block(nested.get("block") or {})
        attributes[name] = _wrap(str(nested.get("nesting_mode", "single")), inner)
    return Shape("object", attributes=attributes)


def _nested(nested: Mapping[str, Any]) -> Shape:
    return _wrap(str(nested.get("nesting_mode", "single")), _block(nested))


def _wrap(mode: str, inner: Shape) -> Shape:
    if mode in ("list", "set", "map"):
        return Shape(mode, element=inner)  # type: ignore[arg-type]
    return inner  # single, group


def _type(cty: Any) -> Shape:
    """A shape from a cty type in its JSON form: ``"string"``, ``["map","string"]``, ..."""
    if cty == "dynamic":
        return DYNAMIC
    if isinstance(cty, str):
        return LEAF
    if isinstance(cty, list) and cty:
        kind = cty[0]
        if kind in ("list", "set", "map") and len(cty) > 1:
            return Shape(kind, element=_type(cty[1]))
        if kind == "object" and len(cty) > 1 and isinstance(cty[1], Mapping):
            return Shape("object", attributes={k: _type(v) for k, v in cty[1].items()})
        if kind == "tuple" and len(cty) > 1 and isinstance(cty[1], list):
            return Shape("tuple", elements=tuple(_type(t) for t in cty[1]))
    return DYNAMIC


Step = tuple[Literal["attr", "key", "index", "set"], str | int]


def render_path(steps: Sequence[Step]) -> str:
    """Terraform's notation: ``rule[0].port``, ``tags["Name"]``, ``ingress[*]``."""
    text = ""
    for kind, value in steps:
        if kind == "attr":
            text += f".{value}" if text else str(value)
        elif kind == "key":
            text += f"[{json.dumps(value)}]"
        elif kind == "index":
            text += f"[{value}]"
        else:
            text += "[*]"
    return text or "(value)"


def changed_paths(
    before: Any,
    after: Any,
    *,
    after_unknown: Any = None,
    before_sensitive: Any = None,
    after_sensitive: Any = None,
    shape: Shape | None = None,
) -> list[str]:
    """The paths whose values differ between ``before`` and ``after`` (never the values)."""
    found: list[list[Step]] = []
    _walk(before, after, after_unknown, before_sensitive, after_sensitive, shape, [], found)
    return [render_path(p) for p in found]


def path_of(
    steps: Sequence[str | int],
    shape: Shape | None = None,
    *,
    before_sensitive: Any = None,
    after_sensitive: Any = None,
) -> str:
    """A ``replace_paths`` entry (``["rule", 0, "port"]``) in Terraform's notation, cut at
    the first sensitive value (``["tags", "secret-key"]`` of a sensitive map is ``tags``)."""
    rendered: list[Step] = []
    b_sens, a_sens = before_sensitive, after_sensitive
    for step in steps:
        if _marked(b_sens) or _marked(a_sens):
            break
        rendered.append(_step(shape, step, top=not rendered))
        if rendered[-1][0] == "set":
            break  # a position in a set names nothing
        shape = shape.child(step) if shape is not None else None
        b_sens, a_sens = _sub(b_sens, step), _sub(a_sens, step)
    return render_path(rendered)


def _step(shape: Shape | None, step: str | int, *, top: bool = False) -> Step:
    if isinstance(step, int):
        if shape is not None and shape.kind == "set":
            return ("set", step)
        return ("index", step)
    if shape is not None and shape.kind == "map":
        return ("key", step)
    if shape is not None and shape.kind == "object":
        return ("attr", step)
    return ("attr", step) if top or _IDENTIFIER.fullmatch(step) else ("key", step)


def _marked(marks: Any) -> bool:
    return marks is True


def _sub(marks: Any, step: str | int) -> Any:
    if isinstance(marks, Mapping) and isinstance(step, str):
        return marks.get(step)
    if isinstance(marks, list) and isinstance(step, int) and step < len(marks):
        return marks[step]
    return None


def any_marked(marks: Any) -> bool:
    """True when ``marks`` (an ``after_unknown`` or ``*_sensitive`` tree) marks anything."""
    if marks is True:
        return True
    if isinstance(marks, Mapping):
        return any(any_marked(v) for v in marks.values())
    if isinstance(marks, list):
        return any(any_marked(v) for v in marks)
    return False


def _walk(
    before: Any,
    after: Any,
    unknown: Any,
    b_sens: Any,
    a_sens: Any,
    shape: Shape | None,
    steps: list[Step],
    found: list[list[Step]],
) -> None:
    if _marked(b_sens) or _marked(a_sens):
        # A sensitive value: say that it changed, never what is inside it.
        if before != after or any_marked(unknown) or _marked(b_sens) != _marked(a_sens):
            found.append(steps)
        return
    if _marked(unknown):
        found.append(steps)
        return
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in sorted(set(before) | set(after)):
            _walk(
                before.get(key),
                after.get(key),
                _sub(unknown, key),
                _sub(b_sens, key),
                _sub(a_sens, key),
                shape.child(key) if shape is not None else None,
                [*steps, _step(shape, key, top=not steps)],
                found,
            )
        return
    if isinstance(before, list) and isinstance(after, list):
        if shape is not None and shape.kind == "set":
            if _multiset(before) != _multiset(after) or any_marked(unknown):
                found.append([*steps, ("set", 0)])
            return
        if len(before) == len(after):
            element = shape if shape is not None else None
            for i, (b, a) in enumerate(zip(before, after, strict=True)):
                _walk(
                    b,
                    a,
                    _sub(unknown, i),
                    _sub(b_sens, i),
                    _sub(a_sens, i),
                    element.child(i) if element is not None else None,
                    [*steps, ("index", i)],
                    found,
                )
            return
    if before != after:
        found.append(steps)


def _multiset(values: list[Any]) -> list[str]:
    return sorted(json.dumps(v, sort_keys=True) for v in values)
