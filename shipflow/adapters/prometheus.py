"""What one check reads from Prometheus, through prometheus-api-client.

The client is configured so that a check costs at most one timeout and says what went wrong:
no retries (the library's default retries each failed query three times with backoff, about
6 s per failure), TLS verified by default (a CA bundle for private CAs), a bearer token or basic
auth for Thanos, Mimir or a managed Prometheus, and every query of one check bounded by the
time left of that check's timeout (sent to Prometheus too, so it stops evaluating). The PromQL
comes from :class:`shipflow.core.metrics.HttpMetrics`; this module only runs it. Any failure
(connection, timeout, HTTP error, a body that is not a Prometheus answer) is a
:class:`PrometheusError` naming the query.
"""

from __future__ import annotations

import ast
import json
import math
import re
import time
from collections.abc import Callable
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from urllib3.util.retry import Retry

from shipflow.core.analysis import Observation, Sample
from shipflow.core.metrics import HttpMetrics, duration
from shipflow.errors import PrometheusError
from shipflow.settings import Settings


class MetricsTarget(BaseModel):
    """Where an app's metrics are and how its versions are labelled (a flow parameter).

    Connection fields left empty come from the settings (``SHIPFLOW_PROMETHEUS_*``): the one
    place that decides them is :func:`connection_for`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    app: str = Field(description="Value of the app label.")
    url: str | None = Field(default=None, description="Default: SHIPFLOW_PROMETHEUS_URL.")
    canary_version: str = "canary"
    stable_version: str = "stable"
    definitions: HttpMetrics = HttpMetrics()
    timeout_seconds: float = Field(
        default=5,
        gt=0,
        description="What one check's queries may take together (at most half the check interval).",
    )
    tls_verify: bool = Field(default=True, description="Verify the server's TLS certificate.")
    ca_bundle: str | None = Field(
        default=None, description="CA bundle file; default: SHIPFLOW_PROMETHEUS_CA_BUNDLE."
    )
    auth_block: str | None = Field(
        default=None,
        description='A Prefect Secret block holding {"bearer_token": …} or '
        '{"username": …, "password": …}; default: SHIPFLOW_PROMETHEUS_BEARER_TOKEN or '
        "_USERNAME/_PASSWORD.",
    )


class Credentials(BaseModel):
    """How to authenticate to Prometheus: a bearer token, or basic auth, or nothing."""

    model_config = ConfigDict(frozen=True)

    bearer_token: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None


class PrometheusConnection(BaseModel):
    """A resolved connection: where, how to trust the server, how to authenticate."""

    model_config = ConfigDict(frozen=True)

    url: str
    verify: bool | str = True
    credentials: Credentials = Credentials()


def connection_for(
    target: MetricsTarget, settings: Settings, credentials: Credentials | None = None
) -> PrometheusConnection:
    """The one place that decides where Prometheus is and how to reach it: the target's own
    fields, else the settings. ``credentials`` (from the target's Secret block) win over the
    settings' token or basic auth."""
    ca = target.ca_bundle or settings.prometheus_ca_bundle
    if credentials is None:
        credentials = Credentials(
            bearer_token=settings.prometheus_bearer_token,
            username=settings.prometheus_username,
            password=settings.prometheus_password,
        )
    return PrometheusConnection(
        url=(target.url or settings.prometheus_url).rstrip("/"),
        verify=(ca or True) if target.tls_verify else False,
        credentials=credentials,
    )


_HTTP_ERROR = re.compile(r"HTTP Status Code (\d{3}) \((b.*)\)$", re.DOTALL)


def _http_error(text: str) -> tuple[int | None, str]:
    """The status and Prometheus' own error out of the library's exception, which carries
    them only as text: ``HTTP Status Code 400 (b'{"status":"error", …}')``."""
    found = _HTTP_ERROR.match(text)
    if not found:
        return None, text[:200]
    status = int(found.group(1))
    try:
        body = json.loads(ast.literal_eval(found.group(2)))
        return status, f"{body['errorType']}: {body['error']}"[:300]
    except (ValueError, SyntaxError, TypeError, KeyError):
        return status, "no Prometheus error body"


class PrometheusClient:
    """Instant queries, one attempt each, each with its own timeout."""

    def __init__(self, connection: PrometheusConnection) -> None:
        self.connection = connection
        session = requests.Session()
        session.verify = connection.verify
        creds = connection.credentials
        headers = None
        if creds.bearer_token is not None:
            headers = {"Authorization": f"Bearer {creds.bearer_token.get_secret_value()}"}
        auth = None
        if creds.username is not None:
            password = creds.password.get_secret_value() if creds.password else ""
            auth = (creds.username, password)
        self._client = PrometheusConnect(
            url=connection.url,
            headers=headers,
            auth=auth,
            session=session,
            # No hidden retries: one attempt per query; the analysis counts the failures.
            retry=Retry(total=0, connect=0, read=0, redirect=0, status=0, raise_on_status=False),
        )

    def close(self) -> None:
        self._client.close()

    def vector(self, query: str, timeout: float) -> list[tuple[dict[str, str], float]]:
        """The samples of an instant query: (labels, value) pairs; NaN samples are left out."""
        try:
            result: Any = self._client.custom_query(
                query, params={"timeout": duration(timeout)}, timeout=timeout
            )
        except PrometheusApiClientException as exc:
            status, detail = _http_error(str(exc))
            raise PrometheusError(query, f"HTTP error {status or '?'}: {detail}", status) from exc
        except requests.Timeout as exc:
            raise PrometheusError(query, f"timeout after {timeout:.2g}s") from exc
        except requests.exceptions.SSLError as exc:
            raise PrometheusError(query, "TLS verification failed") from exc
        except requests.RequestException as exc:
            raise PrometheusError(
                query, f"unreachable at {self.connection.url}: {type(exc).__name__}"
            ) from exc
        except ValueError as exc:  # a body that is not JSON
            raise PrometheusError(query, "response is not JSON") from exc
        if not isinstance(result, list):
            raise PrometheusError(query, f"unexpected result type {type(result).__name__}")
        samples = []
        for item in result:
            try:
                labels = {str(k): str(v) for k, v in item.get("metric", {}).items()}
                value = float(item["value"][1])
            except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
                raise PrometheusError(query, "malformed sample") from exc
            if not math.isnan(value):
                samples.append((labels, value))
        return samples


Samples = list[tuple[dict[str, str], float]]


def within(client: PrometheusClient, timeout: float, what: str) -> Callable[[str], Samples]:
    """A runner of instant queries that share ``timeout`` seconds: each query is bounded by the
    time left, and one that would start after it is a PrometheusError ("the ``what`` took more
    than ...") instead of a query with no time to answer."""
    deadline = time.monotonic() + timeout

    def run(query: str) -> Samples:
        left = deadline - time.monotonic()
        if left <= 0:
            raise PrometheusError(query, f"timeout: the {what} took more than {timeout:.2g}s")
        return client.vector(query, left)

    return run


def bucket_bound(labels: dict[str, str]) -> float | None:
    """The ``le`` bound of a histogram bucket sample (None: not a bucket sample)."""
    try:
        return float(labels["le"])
    except (KeyError, ValueError):
        return None


def observe(
    client: PrometheusClient,
    target: MetricsTarget,
    span_seconds: float,
    timeout: float,
    *,
    alone: str | None = None,
) -> Observation:
    """What both versions of ``target.app`` did during the last ``span_seconds`` (or only the
    version ``alone``, with no baseline): four queries that share ``timeout`` seconds."""
    defs, app = target.definitions, target.app
    run = within(client, timeout, "check")
    age = run(defs.newest_sample_age(app))
    label = defs.version_label
    by_version: dict[str, dict[str, float]] = {"requests": {}, "errors": {}}
    for key, query in (
        ("requests", defs.requests_by_version(app, span_seconds)),
        ("errors", defs.errors_by_version(app, span_seconds)),
    ):
        for labels, value in run(query):
            version = labels.get(label, "")
            by_version[key][version] = by_version[key].get(version, 0.0) + max(0.0, value)
    buckets: dict[str, list[tuple[float, float]]] = {}
    for labels, value in run(defs.latency_buckets_by_version(app, span_seconds)):
        if (le := bucket_bound(labels)) is None:
            continue
        buckets.setdefault(labels.get(label, ""), []).append((le, max(0.0, value)))

    def sample(version: str) -> Sample:
        return Sample(
            requests=by_version["requests"].get(version, 0.0),
            errors=by_version["errors"].get(version, 0.0),
            buckets=tuple(sorted(buckets.get(version, []))),
        )

    return Observation(
        span_seconds=span_seconds,
        canary=sample(alone if alone is not None else target.canary_version),
        baseline=None if alone is not None else sample(target.stable_version),
        unlabelled_requests=by_version["requests"].get("", 0.0),
        newest_sample_age_seconds=max(0.0, age[0][1]) if age else None,
        version_label=label,
    )
