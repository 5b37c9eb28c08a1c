"""Which values are secret, and how to keep them out of text that leaves the process.

Everything that shipflow writes where a person can read it (a log line, an artifact, an event,
an exception message) passes through :func:`redact` with the secrets the caller knows of.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MASK = "***"

# A value shorter than this is not treated as a secret: masking "1" or "us" everywhere would
# destroy every message while protecting nothing.
MIN_SECRET_LENGTH = 4

_SECRET_NAME = re.compile(
    r"(SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL|ACCESS_KEY|AUTH|SESSION)",
    re.IGNORECASE,
)


def is_secret_name(name: str) -> bool:
    """True when a variable's name says it holds a credential (``*_TOKEN``, ``*PASSWORD*``...).

    Terraform input variables passed through the environment (``TF_VAR_*``) count as secret
    too: their values are often sensitive and shipflow cannot see the ``sensitive`` flag there.
    """
    return name.startswith("TF_VAR_") or bool(_SECRET_NAME.search(name))


def secret_values(env: Mapping[str, str]) -> frozenset[str]:
    """The values of ``env`` whose names look secret (see :func:`is_secret_name`)."""
    return frozenset(
        value
        for name, value in env.items()
        if is_secret_name(name) and len(value) >= MIN_SECRET_LENGTH
    )


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of every secret replaced by ``***``, longest first."""
    known = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
    for secret in sorted(known, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def redact_outputs(outputs: Mapping[str, object], secrets: Iterable[str]) -> dict[str, object]:
    """Terraform outputs (``output -json``) as they may be shown: a sensitive output is
    ``***`` whole; in the others, every string is redacted of ``secrets`` at any depth."""
    known = frozenset(secrets)

    def clean(value: object) -> object:
        if isinstance(value, str):
            return redact(value, known)
        if isinstance(value, Mapping):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    shown: dict[str, object] = {}
    for name, output in outputs.items():
        sensitive = isinstance(output, Mapping) and bool(output.get("sensitive"))
        value = output.get("value") if isinstance(output, Mapping) else output
        shown[name] = MASK if sensitive else clean(value)
    return shown
