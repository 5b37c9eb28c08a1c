"""Untrusted input into a model: the one place a pydantic ValidationError becomes a ConfigError."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from shipflow.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def field_path(prefix: str, loc: tuple[int | str, ...], whole: str = "input") -> str:
    """``prefix.a.b`` for a pydantic error location (``prefix`` alone when it is empty,
    ``whole`` when both are: an error of the model as a whole)."""
    parts = [prefix] if prefix else []
    parts += [str(p) for p in loc]
    return ".".join(parts) or whole


def validated(model: type[M], data: object, *, prefix: str = "", whole: str = "input") -> M:
    """``data`` as ``model``; the first bad field is a ConfigError naming its path under
    ``prefix`` (``services.web.policy.max_error_ratio``) and what is allowed there."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(field_path(prefix, tuple(first["loc"]), whole), first["msg"]) from None
