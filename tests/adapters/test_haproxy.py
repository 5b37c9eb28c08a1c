"""The HAProxy router and the ``local`` target against Debian's HAProxy and real app processes:
weights split real requests, drains wait for open sessions, a refused command says why."""

from __future__ import annotations

import collections
import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipflow.adapters.haproxy import HAProxyRouter, HAProxyRuntime
from shipflow.adapters.processes import LocalWorkloads, alive
from shipflow.deployments import local
from shipflow.deployments.sandbox import web_app
from shipflow.errors import ConfigError, HAProxyError


class Proxy:
    def __init__(self, frontend: int, runtime: HAProxyRuntime, apps: Path) -> None:
        self.frontend, self.runtime, self.apps = frontend, runtime, apps

    def versions(self, n: int) -> collections.Counter[str]:
        """Who answered ``n`` requests through the frontend (by X-Shipflow-Version)."""
        seen: collections.Counter[str] = collections.Counter()
        with httpx.Client(timeout=5) as client:
            for _ in range(n):
                answer = client.get(f"http://127.0.0.1:{self.frontend}/")
                seen[answer.headers.get("X-Shipflow-Version", f"proxy {answer.status_code}")] += 1
        return seen

    @contextlib.contextmanager
    def users(self) -> Iterator[collections.Counter[str]]:
        """Requests through the frontend, one after another, for as long as the block runs:
        what answered them, by version and status (or the client's error)."""
        seen: collections.Counter[str] = collections.Counter()
        stop = threading.Event()

        def send() -> None:
            with httpx.Client(timeout=5) as client:
                while not stop.is_set():
                    try:
                        answer = client.get(f"http://127.0.0.1:{self.frontend}/")
                        version = answer.headers.get("X-Shipflow-Version", "proxy")
                        seen[f"{version} {answer.status_code}"] += 1
                    except httpx.HTTPError as exc:
                        seen[type(exc).__name__] += 1

        thread = threading.Thread(target=send)
        thread.start()
        try:
            yield seen
        finally:
            stop.set()
            thread.join()


@pytest.fixture(params=["unix", "tcp"])
def proxy(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Proxy]:
    """HAProxy (runtime API on a unix socket or TCP) in front of the app's stable version."""
    monkeypatch.setenv("LATENCY_MS", "1")  # the app's versions answer at once here
    if request.param == "unix":
        runtime = f"unix:{tmp_path / 'h.sock'}"
    else:
        runtime = f"127.0.0.1:{local.free_port()}"
    frontend = local.free_port()
    service = local.haproxy(
        frontend, runtime, tmp_path, {"stable": "", "canary": ""}, "web", "/healthz"
    )
    apps = tmp_path / "apps"
    LocalWorkloads.define(apps, "web", web_app.command())
    with local.running(service):
        api = HAProxyRuntime(runtime)
        workloads = LocalWorkloads(apps, api)
        try:
            workloads.start("web", "shop/web:1.0.0")
            workloads.wait_ready("web", 10)
            yield Proxy(frontend, api, apps)
        finally:
            workloads.stop_all()


def test_the_router_splits_real_requests_by_weight(proxy: Proxy) -> None:
    workloads = LocalWorkloads(proxy.apps, proxy.runtime)
    workloads.ensure_canary("web", "web-canary", "shop/web:2.0.0")
    workloads.wait_ready("web-canary", 10)
    router = HAProxyRouter(proxy.runtime, "web")
    assert router.canary_weight() == 0
    assert proxy.versions(40) == {"stable": 40}

    assert router.set_canary_weight(25) == 25
    assert router.canary_weight() == 25
    seen = proxy.versions(200)
    # Weighted round robin: 25 % of 200 requests, give or take the interleaving's start.
    assert 46 <= seen["canary"] <= 54, seen
    assert seen["stable"] + seen["canary"] == 200

    router.set_canary_weight(100)
    assert proxy.versions(20) == {"canary": 20}
    router.set_canary_weight(0)
    assert proxy.versions(20) == {"stable": 20}
    assert "HAProxy backend web servers stable/canary" in router.describe()


def test_show_stat_and_a_drained_canary_stopped_without_a_failed_request(proxy: Proxy) -> None:
    workloads = LocalWorkloads(proxy.apps, proxy.runtime)
    workloads.ensure_canary("web", "web-canary", "shop/web:2.0.0")
    workloads.wait_ready("web-canary", 10)
    canary = workloads.instance("web-canary")
    assert canary is not None
    stats = {s.server: s for s in proxy.runtime.show_stat() if s.backend == "web"}
    assert stats["canary"].status.startswith("UP")
    assert stats["canary"].address == f"127.0.0.1:{canary.port}"

    HAProxyRouter(proxy.runtime, "web").set_canary_weight(50)
    assert proxy.versions(20)["canary"] == 10
    with proxy.users() as seen:
        HAProxyRouter(proxy.runtime, "web").set_canary_weight(0)
        workloads.scale("web-canary", 0)  # drain, then stop
    assert set(seen) <= {"stable 200", "canary 200"}, seen
    assert not alive(canary.pid, canary.ticks)
    assert workloads.instance("web-canary") is None
    assert proxy.runtime.server("web", "canary").status == "MAINT"
    assert proxy.versions(20) == {"stable": 20}


def test_a_new_stable_version_takes_over_without_a_gap(proxy: Proxy) -> None:
    workloads = LocalWorkloads(proxy.apps, proxy.runtime)
    old = workloads.instance("web")
    assert old is not None
    with proxy.users() as seen:
        workloads.set_image("web", "shop/web:2.0.0")
    assert set(seen) == {"stable 200"}, seen
    assert workloads.image_of("web") == "shop/web:2.0.0"
    assert not alive(old.pid, old.ticks)
    answer = httpx.get(f"http://127.0.0.1:{proxy.frontend}/")
    assert answer.status_code == 200
    assert answer.text == "web stable: shop/web:2.0.0\n"
    # Prometheus finds the new process in the target file the workload keeps.
    new = workloads.instance("web")
    assert new is not None
    targets = json.loads((proxy.apps / "targets" / "web-stable.json").read_text())
    assert targets[0]["targets"] == [f"127.0.0.1:{new.port}"]


def test_a_refused_command_says_why(proxy: Proxy) -> None:
    with pytest.raises(HAProxyError, match="No such server"):
        proxy.runtime.set_weight("web", "nonexistent", 10)
    with pytest.raises(HAProxyError, match="No such backend"):
        HAProxyRouter(proxy.runtime, "nobackend").set_canary_weight(10)
    with pytest.raises(ConfigError, match=r"outside HAProxy.s 0\.\.256"):
        proxy.runtime.set_weight("web", "canary", 300)
    with pytest.raises(ConfigError, match="not a percentage"):
        HAProxyRouter(proxy.runtime, "web").set_canary_weight(101)


def test_an_unreachable_runtime_api_is_an_error_naming_it(tmp_path: Path) -> None:
    api = HAProxyRuntime(f"unix:{tmp_path / 'none.sock'}")
    with pytest.raises(HAProxyError, match="unreachable"):
        api.show_stat()
    with pytest.raises(ConfigError, match="neither unix:/path nor host:port"):
        HAProxyRuntime("haproxy.sock")
