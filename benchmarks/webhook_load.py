"""The webhook receiver under a bounded load on 127.0.0.1, next to a bare uvicorn app.

Starts a Prefect server, the receiver (uvicorn, one worker) and a bare Starlette app that
answers 200, each in its own process. For each: the most requests/s 16 concurrent clients get
in 5 s, then latency percentiles at a steady 200 requests/s for 5 s. The receiver gets
signed GitHub pushes to main with a fresh delivery id each (each one becomes a Prefect event).

Goal: the receiver holds at least half the bare app's throughput, with p99 under 50 ms at
200 requests/s. A third row runs the receiver with its Prefect API out of reach (events wait
in the outbox), to show the receiver's own cost apart from the Prefect server's: on a 2-core
machine the server ingesting ~200 events/s competes for the same cores.

Run: .venv/bin/python benchmarks/webhook_load.py
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from shipflow.deployments import local  # noqa: E402

SECRET = "bench-secret"  # noqa: S105 - a benchmark's own throwaway key
BARE = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
async def ok(request):
    await request.body()
    return JSONResponse({"status": "ok"})
app = Starlette(routes=[Route("/hooks/github", ok, methods=["POST"])])
"""


def request_body() -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "ref": "refs/heads/main",
            "after": uuid.uuid4().hex + "00000000",
            "repository": {"full_name": "bench/app", "default_branch": "main"},
            "pusher": {"name": "bench"},
            "commits": [{"modified": ["a.py"]}],
        }
    ).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": signature,
        "Content-Type": "application/json",
    }


async def one(client: httpx.AsyncClient, url: str) -> float:
    body, headers = request_body()
    started = time.perf_counter()
    response = await client.post(url, content=body, headers=headers)
    if response.status_code >= 300 and response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.text}")
    return time.perf_counter() - started


async def throughput(url: str, seconds: float = 5, clients: int = 16) -> float:
    done = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=10) as client:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await one(client, url)
                done += 1

        await asyncio.gather(*(worker() for _ in range(clients)))
    return done / seconds


async def latency(url: str, rate: float = 200, seconds: float = 5) -> tuple[float, float]:
    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=64)) as client:
        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(client, url)))
        samples = await asyncio.gather(*tasks)
    q = statistics.quantiles(samples, n=100)
    return q[49] * 1000, q[98] * 1000


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="shipflow-bench-"))
    api_port, hook_port, bare_port = local.free_port(), local.free_port(), local.free_port()
    (work / "bare.py").write_text(BARE)
    env = {
        "SHIPFLOW_WEBHOOK_GITHUB_SECRET": SECRET,
        "SHIPFLOW_WEBHOOK_SEEN_PATH": str(work / "seen.sqlite"),
        "PREFECT_API_URL": f"http://127.0.0.1:{api_port}/api",
    }
    uvicorn = str(Path(sys.executable).with_name("uvicorn"))
    quiet = ["--log-level", "warning", "--no-access-log"]

    def receiver(name: str, port: int, extra_env: dict[str, str]) -> local.Service:
        return local.Service(
            name=name,
            argv=[
                uvicorn,
                "--factory",
                "shipflow.deployments.webhook:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *quiet,
            ],
            ready=local.http_ready(f"http://127.0.0.1:{port}/healthz"),
            log_path=work / f"{name}.log",
            env={**env, **extra_env},
            cwd=ROOT,
        )

    alone_port = local.free_port()
    hook = receiver("receiver", hook_port, {})
    # Prefect out of reach: events wait in the outbox, so this is the receiver's own cost.
    alone = receiver(
        "receiver-alone",
        alone_port,
        {
            "SHIPFLOW_WEBHOOK_SEEN_PATH": str(work / "alone.sqlite"),
            "PREFECT_API_URL": f"http://127.0.0.1:{local.free_port()}/api",
        },
    )
    bare = local.Service(
        name="bare app",
        argv=[uvicorn, "bare:app", "--host", "127.0.0.1", "--port", str(bare_port), *quiet],
        ready=local.tcp_ready(bare_port),
        log_path=work / "bare.log",
        cwd=work,
    )
    with (
        local.running(local.prefect_server(api_port, work)),
        local.running(hook),
        local.running(alone),
        local.running(bare),
    ):
        print(f"{'app':>22} {'max req/s':>10} {'p50 ms @200/s':>14} {'p99 ms @200/s':>14}")
        results = {}
        for name, port in (
            ("bare", bare_port),
            ("receiver", hook_port),
            ("receiver, no Prefect", alone_port),
        ):
            url = f"http://127.0.0.1:{port}/hooks/github"
            rps = asyncio.run(throughput(url))
            p50, p99 = asyncio.run(latency(url))
            results[name] = rps
            print(f"{name:>22} {rps:>10.0f} {p50:>14.1f} {p99:>14.1f}")
        print(f"receiver/bare throughput: {results['receiver'] / results['bare']:.2f}")
        os.environ.pop("PREFECT_API_URL", None)


if __name__ == "__main__":
    main()
