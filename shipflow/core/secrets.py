"""Which values are secret, and how to keep them out of text that leaves the process.

Everything that shipflow writes where a person can read it (a log line, an artifact, an event,
an exception message) passes through :func:`redact` with the secrets the caller knows of.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from itertools import pairwise

MASK = "***"

# A value shorter than this is not treated as a secret: masking "1" or "us" everywhere would
# destroy every message while protecting nothing.
MIN_SECRET_LENGTH = 4

# The one rule for names that hold a credential, for redaction and for the image scan alike.
# A name is read as words (split at "_", "-", "." and camelCase), so that AUTHOR, TOKENIZERS or
# SESSION_TIMEOUT are not secret while dbPassword, npm's _authToken and PGPASSWORD are.
_SECRET_ENDINGS = (
    "SECRET",
    "SECRETS",
    "PASSWORD",
    "PASSWORDS",
    "PASSWD",
    "TOKEN",
    "TOKENS",
    "CREDENTIAL",
    "CREDENTIALS",
    "APIKEY",
    "PRIVATEKEY",
    "ACCESSKEY",
)
_SECRET_PAIRS = frozenset({("API", "KEY"), ("PRIVATE", "KEY"), ("ACCESS", "KEY")})
# Secret only as the last word: BASIC_AUTH and DB_PASS are, OS_AUTH_URL and PASS_COUNT are not.
_SECRET_LAST_WORDS = frozenset({"AUTH", "PASS"})
# A name ending in one of these holds where a secret is, or a switch, not the secret itself.
_NOT_SECRET_LAST_WORDS = frozenset({"FILE", "PATH", "DIR", "ENABLED", "HEADER"})
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def is_secret_name(name: str) -> bool:
    """True when a variable's name says it holds a credential: a word that ends in SECRET,
    PASSWORD, PASSWD, TOKEN or CREDENTIAL (plurals too), API/PRIVATE/ACCESS KEY, or a last word
    AUTH or PASS; False when its last word says it is a path or a switch (``*_FILE``,
    ``*_PATH``, ``*_DIR``, ``*_ENABLED``, ``*_HEADER``)."""
    words = [w.upper() for w in _WORD.findall(name)]
    if not words or words[-1] in _NOT_SECRET_LAST_WORDS:
        return False
    return (
        words[-1] in _SECRET_LAST_WORDS
        or any(w.endswith(_SECRET_ENDINGS) for w in words)
        or any(pair in _SECRET_PAIRS for pair in pairwise(words))
    )


def secret_values(env: Mapping[str, str]) -> frozenset[str]:
    """The values of ``env`` to keep out of text: those whose names look secret (see
    :func:`is_secret_name`), and every Terraform input variable (``TF_VAR_*``), since their
    values are often sensitive and shipflow cannot see the ``sensitive`` flag there."""
    return frozenset(
        value
        for name, value in env.items()
        if (name.startswith("TF_VAR_") or is_secret_name(name)) and len(value) >= MIN_SECRET_LENGTH
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
