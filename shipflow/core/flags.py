"""A feature flag's ramp as an OpenFeature flagd flag definition (fractional targeting).

The ramp turns a flag's ``on`` variant on for a share of users: flagd's ``fractional``
operation buckets each evaluation by flag key and targeting key, so a user keeps the variant
they got while the share grows. 0 % serves ``off`` to everyone (no targeting at all), 100 %
makes ``on`` the default. Other flags in the definition are kept as they are.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from shipflow.core.rollout import check_weight

SCHEMA = "https://flagd.dev/schema/v0/flags.json"


class FlagLocation(BaseModel):
    """Where the feature-flag strategy writes its flagd flag definition: a ConfigMap key (the
    flagd sidecar or the OpenFeature operator reads it) or a file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    config_map: str | None = None
    key: str = "flags.flagd.json"
    file: str | None = None

    @model_validator(mode="after")
    def _one_place(self) -> FlagLocation:
        if (self.config_map is None) == (self.file is None):
            raise ValueError("set exactly one of config_map and file")
        return self


def set_fraction(
    definition: dict[str, Any] | None, flag: str, *, on: str, off: str, percent: int
) -> dict[str, Any]:
    """``definition`` (None: a new one) with ``flag`` serving ``on`` to ``percent`` % of
    users and ``off`` to the rest. Variants the flag already has keep their values; new ones
    are booleans (``on``: true, ``off``: false)."""
    check_weight(percent)
    out = copy.deepcopy(definition) if definition else {}
    out.setdefault("$schema", SCHEMA)
    flags = out.setdefault("flags", {})
    current = flags.get(flag) or {}
    variants = dict(current.get("variants") or {})
    variants.setdefault(on, True)
    variants.setdefault(off, False)
    entry: dict[str, Any] = {
        **{k: v for k, v in current.items() if k not in ("targeting", "defaultVariant")},
        "state": "ENABLED",
        "variants": variants,
        "defaultVariant": on if percent == 100 else off,
    }
    if 0 < percent < 100:
        entry["targeting"] = {"fractional": [[on, percent], [off, 100 - percent]]}
    flags[flag] = entry
    return out


def flag_fraction(definition: dict[str, Any] | None, flag: str, on: str) -> int:
    """The percentage of users ``flag`` serves ``on`` to, as flagd would (0 when the flag is
    missing or disabled)."""
    entry = ((definition or {}).get("flags") or {}).get(flag)
    if not entry or entry.get("state") != "ENABLED":
        return 0
    fractional = (entry.get("targeting") or {}).get("fractional")
    if isinstance(fractional, list):
        buckets = [b for b in fractional if isinstance(b, list) and len(b) == 2]
        total = sum(int(b[1]) for b in buckets)
        share = sum(int(b[1]) for b in buckets if b[0] == on)
        return round(100 * share / total) if total else 0
    return 100 if entry.get("defaultVariant") == on else 0
