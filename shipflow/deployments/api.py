"""Talking to the Prefect API without Prefect's client (the receiver, checks): its URL and the
``Authorization`` header Prefect's own client sends when API authentication is on."""

from __future__ import annotations

import base64


def prefect_api_url() -> str | None:
    """PREFECT_API_URL as Prefect's settings resolve it (environment, profile), no slash."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    return str(url).rstrip("/") if url else None


def prefect_auth_headers() -> dict[str, str]:
    """``Authorization: Basic …`` from PREFECT_API_AUTH_STRING (``user:password``), exactly as
    Prefect's client sends it; no header when it is unset."""
    from prefect.settings import PREFECT_API_AUTH_STRING

    auth = PREFECT_API_AUTH_STRING.value()
    if not auth:
        return {}
    value = auth.get_secret_value() if hasattr(auth, "get_secret_value") else str(auth)
    return {"Authorization": "Basic " + base64.b64encode(value.encode()).decode()}
