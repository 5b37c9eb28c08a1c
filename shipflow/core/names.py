"""Names shipflow derives from user input: one slug rule for keys, limits and variables."""

from __future__ import annotations

import re


def slug(text: str, *, sep: str = "-", fallback: str = "x") -> str:
    """``text`` as lower-case ``a-z0-9`` words joined by ``sep`` (Prefect artifact keys take
    dashes, Prefect Variable names underscores); ``fallback`` when nothing is left."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return sep.join(words) or fallback
