"""Which commit a release builds, and from where: the sha and the clone URL, checked before git
ever runs, and the URL as it may be shown (credentials never leave it).
"""

from __future__ import annotations

import re

from shipflow.errors import ConfigError

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# scp-like syntax git accepts for ssh: [user@]host:path (no scheme, no slash before the colon)
_SCP = re.compile(r"(?:[A-Za-z0-9._~-]+@)?[A-Za-z0-9.-]+:(?!//).+")
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")
SCHEMES = ("https", "http", "ssh", "git", "file")


def is_full_sha(value: str) -> bool:
    """Whether ``value`` is a full commit id: 40 hex digits, or 64 for SHA-256 repositories
    (either case)."""
    return _SHA.fullmatch(value.lower()) is not None


def parse_sha(sha: str) -> str:
    """A full commit id (40 hex digits, or 64 for SHA-256 repositories), lower-cased.

    Short or symbolic names (``main``, ``HEAD~1``, ``abc123``) are refused: a release builds
    exactly one commit, and only a full id names one commit for good.
    """
    value = sha.strip().lower()
    if not is_full_sha(value):
        raise ConfigError("sha", f"{sha!r} is not a full commit id (40 or 64 hex digits)")
    return value


def parse_clone_url(url: str) -> str:
    """A URL git may fetch from: ``https``, ``http``, ``ssh``, ``git``, ``file`` URLs, an
    scp-like ``git@host:owner/repo.git`` or an absolute path.

    Refused: anything git would read as an option (a leading ``-``), transport helpers
    (``ext::…``, which run commands), other schemes, whitespace and control characters.
    """
    value = url.strip()
    shown = display_url(value)
    if not value:
        raise ConfigError("clone_url", "is empty")
    if value.startswith("-"):
        raise ConfigError("clone_url", f"{shown!r} starts with '-' (git would read an option)")
    if any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise ConfigError("clone_url", f"{shown!r} contains whitespace or control characters")
    if "::" in value.split("/", 1)[0]:
        raise ConfigError("clone_url", f"{shown!r}: transport helpers (<name>::) are refused")
    if "://" in value:
        scheme = value.split("://", 1)[0].lower()
        if scheme not in SCHEMES:
            allowed = ", ".join(SCHEMES)
            raise ConfigError("clone_url", f"{shown!r}: scheme {scheme!r} is not one of {allowed}")
        return value
    if value.startswith("/") or _SCP.fullmatch(value):
        return value
    raise ConfigError(
        "clone_url",
        f"{shown!r} is not a URL git can fetch (https://…, ssh://…, git@host:path, /path)",
    )


def display_url(url: str) -> str:
    """``url`` with any user name and password replaced by ``***`` (for logs and errors)."""
    return _USERINFO.sub(r"\1***@", url, count=1)
