"""``shipflow demo`` on the sandbox: two merges released the way a team's would be.

1. the sandbox is brought up (or found running: ``shipflow sandbox up``);
2. the example repository is written into the sandbox, and a **signed merge webhook** is posted
   to the sandbox's receiver; the ``release`` deployment's trigger starts a run on the
   sandbox's worker: build_and_push → terraform_release, which **waits for approval** (the UI
   link is printed; with ``yes`` the demo approves its own run through the API, nothing else)
   → promote_canary 5 → 25 → 50 → 100 %;
3. a second merge ships a faulty version (it fails 30 % of its requests): its canary is rolled
   back automatically, with the failed measurement in the reason;
4. a summary of both releases: stages, durations, verdicts, the image digest.

The sandbox stays up afterwards (``shipflow sandbox down`` stops it) unless ``down``. Ctrl-C
cancels the demo's own runs, takes any traffic back from the canary and says so.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx

from shipflow.adapters.git import Git
from shipflow.adapters.processes import SLOTS
from shipflow.adapters.waiting import poll_until
from shipflow.deployments import local
from shipflow.deployments.demo import DOCKERFILE, POLICY, STACK, STATE_KEY
from shipflow.deployments.reviewer import api_filter, resume
from shipflow.deployments.sandbox import services
from shipflow.deployments.sandbox.cluster import APP
from shipflow.deployments.sandbox.images import make_base_image
from shipflow.errors import ServiceError

REPO = "shop/web"
SERVICE = "web"
STACK_DIR = "infra/network"
FAULT_RATE = 0.3
APPROVER = {"approve": True, "approver": "shipflow-demo (--yes)", "comment": "approved by --yes"}

CONFIG = (
    """\
[services.{service}]
app = "{app}"
image = {{ context = "services/web", repository = "{registry}/shop/web" }}
stack = "{stack}"
target = "local"
paths = ["services/web/", "{stack}/"]

"""
    + POLICY
)


@dataclass
class Stage:
    name: str
    state: str
    seconds: float
    message: str


@dataclass
class Release:
    """One merge and what its release run did."""

    title: str
    sha: str
    run_id: str = ""
    state: str = ""
    message: str = ""
    stages: list[Stage] = field(default_factory=list)
    image: str = ""
    shares: list[Share] = field(default_factory=list)


@dataclass
class Share:
    """The canary's share of the requests during one step, in percent, as the load
    generator's own counts say and as Prometheus scraped it from the app's processes."""

    weight: int
    seconds: float
    users: float
    prometheus: float


@dataclass
class SandboxDemo:
    ui: str
    releases: list[Release] = field(default_factory=list)
    sandbox_left_up: bool = True

    def ok(self) -> bool:
        first, *rest = self.releases
        faulty_rolled_back = all(r.state == "FAILED" and "rolled back" in r.message for r in rest)
        return first.state == "COMPLETED" and faulty_rolled_back and len(self.releases) == 2


class Interrupted(Exception):
    """Ctrl-C during the demo, after its own runs were cancelled and the canary rolled back."""


def run_sandbox_demo(say: Callable[[str], None], yes: bool, down: bool) -> SandboxDemo:
    try:
        sandbox, started = services.up(say)
    except KeyboardInterrupt:  # up() has stopped whatever it had started
        raise Interrupted("the sandbox was starting: what had started is stopped") from None
    if not started:
        say(f"the sandbox is already up ({sandbox.root})")
    result = SandboxDemo(ui=sandbox.prefect_ui)
    current: list[Release] = []
    try:
        with services.environment(sandbox):
            base = make_base_image(
                local.require_binary("buildah"),
                local.require_binary("busybox"),
                services.flow_environment(sandbox)["SHIPFLOW_BUILDAH_STORAGE_DRIVER"],
            )
        repo = _write_repository(sandbox, base)
        say(
            "no container can run on this machine: each version runs as a local process (with "
            "its image's ENV) behind HAProxy; the image is still built, scanned and pushed"
        )
        for title, fault in (
            ("merge 1: version 2", 0.0),
            ("merge 2: a faulty version", FAULT_RATE),
        ):
            _edit(repo, title, fault)
            # A real commit: the worker fetches exactly this sha from the clone URL.
            release = Release(title=title, sha=Git().commit_all(repo, title, "shipflow-demo"))
            current[:] = [release]
            result.releases.append(release)
            began = time.time()
            _merge(sandbox, release, repo, say)
            _follow(sandbox, release, yes, say)
            release.shares = _shares(sandbox, began)
            for share in release.shares:
                say(
                    f"  at {share.weight} % the canary answered {share.users:.1f} % of the "
                    f"users' requests (Prometheus: {share.prometheus:.1f} %) over "
                    f"{share.seconds:.0f} s"
                )
    except KeyboardInterrupt:
        said = _interrupt(sandbox, current[0] if current else None)
        if started:
            services.down(lambda line: None)
            said += "; the sandbox this demo started is stopped"
        raise Interrupted(said) from None
    if down and started:
        services.down(say)
        result.sandbox_left_up = False
    elif down:
        say("the sandbox was up before the demo: left up")
    return result


def _write_repository(sandbox: services.Sandbox, base: str) -> Path:
    repo = sandbox.path / "repo"
    web = repo / "services" / "web"
    web.mkdir(parents=True, exist_ok=True)
    bucket = f"shipflow-demo-{uuid.uuid4().hex[:8]}"
    with services.environment(sandbox):  # moto's stand-in credentials, never real ones
        boto3.client("s3", endpoint_url=sandbox.s3).create_bucket(Bucket=bucket)
    infra = repo / STACK_DIR
    infra.mkdir(parents=True, exist_ok=True)
    (infra / "main.tf").write_text(STACK.format(bucket=bucket, endpoint=sandbox.s3, key=STATE_KEY))
    (web / "Dockerfile.base").write_text(base)
    (repo / "shipflow.toml").write_text(
        CONFIG.format(
            service=SERVICE,
            app=APP,
            stack=STACK_DIR,
            registry=sandbox.registry,
        )
    )
    return repo


def _edit(repo: Path, title: str, fault: float) -> None:
    web = repo / "services" / "web"
    base = (web / "Dockerfile.base").read_text()
    dockerfile = DOCKERFILE.format(base=base)
    if fault:
        # The bug this merge ships; the local target's stand-in reads it from the image's ENV.
        dockerfile = dockerfile.replace("USER 1000:1000", f"ENV FAULT_RATE={fault}\nUSER 1000:1000")
    (web / "Dockerfile").write_text(dockerfile)
    (web / "index.html").write_text(f"<h1>shop, {title}</h1>\n")


def _merge(
    sandbox: services.Sandbox, release: Release, repo: Path, say: Callable[[str], None]
) -> None:
    body = json.dumps(
        {
            "ref": "refs/heads/main",
            "after": release.sha,
            "repository": {
                "full_name": REPO,
                "default_branch": "main",
                "clone_url": repo.as_uri(),
            },
            "pusher": {"name": "shipflow-demo"},
            "commits": [{"added": [], "modified": ["services/web/index.html"], "removed": []}],
        }
    ).encode()
    signature = hmac.new(sandbox.webhook_secret().encode(), body, hashlib.sha256).hexdigest()
    answer = httpx.post(
        f"{sandbox.webhook}/hooks/github",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": f"sha256={signature}",
        },
        timeout=10,
    )
    if answer.status_code != 202:
        raise ServiceError(f"the webhook receiver answered {answer.status_code}: {answer.text}")
    say(f"{release.title}: merge {release.sha[:12]} of {REPO} posted as a signed GitHub webhook")


def _release_run(api: str, sha: str) -> dict[str, Any] | None:
    runs = api_filter(api, "flow_runs", {"tags": {"all_": ["shipflow-sandbox"]}})
    return next((r for r in runs if r["parameters"].get("sha") == sha), None)


def _follow(
    sandbox: services.Sandbox, release: Release, yes: bool, say: Callable[[str], None]
) -> None:
    api = sandbox.prefect_api
    run = poll_until(lambda: _release_run(api, release.sha), timeout=60, interval=0.5)
    release.run_id = run["id"]
    say(f"the trigger started release run {sandbox.prefect_ui}/runs/flow-run/{run['id']}")
    asked: set[str] = set()
    while True:
        run = httpx.get(f"{api}/flow_runs/{release.run_id}", timeout=10).json()
        children = api_filter(api, "flow_runs", {"parent_flow_run_id": {"any_": [run["id"]]}})
        for child in children:
            if child["state"]["type"] == "PAUSED" and child["id"] not in asked:
                asked.add(child["id"])
                link = f"{sandbox.prefect_ui}/runs/flow-run/{child['id']}"
                say(f"the Terraform plan waits for approval: {link}")
                if yes:
                    answer = resume(api, child["id"], APPROVER)
                    say(f"--yes: approved this demo's own plan (HTTP {answer.status_code})")
                else:
                    say("approve it there (Resume, switch Approve on, your name), or use --yes")
        if run["state"]["type"] in ("COMPLETED", "FAILED", "CANCELLED", "CRASHED"):
            break
        time.sleep(0.5)
    release.state = run["state"]["type"]
    release.message = run["state"].get("message") or ""
    names = {f["id"]: f["name"] for f in api_filter(api, "flows", {})}
    for child in sorted(children, key=lambda c: c["start_time"] or ""):
        release.stages.append(
            Stage(
                name=names.get(child["flow_id"], "?"),
                state=child["state"]["type"],
                seconds=_seconds(child),
                message=child["state"].get("message") or "",
            )
        )
    release.image = sandbox.workloads().image_of(APP)
    say(f"{release.title}: {release.state}: {release.message}")


def _shares(sandbox: services.Sandbox, since: float) -> list[Share]:
    """For each canary step that passed since ``since`` (its ``shipflow.canary.step`` event to
    its ``step.passed``), the canary's share of the requests: the load generator's counts and
    Prometheus' ``increase`` over the same whole seconds (the first one skipped: the weight
    changes within it). Steps shorter than 2 s are left out."""
    answer = httpx.post(
        f"{sandbox.prefect_api}/events/filter",
        json={
            "filter": {
                "any_resource": {"id": [f"shipflow.canary.local.{APP}"]},
                "event": {"prefix": ["shipflow.canary."]},
                "occurred": {"since": datetime.fromtimestamp(since, UTC).isoformat()},
                "order": "ASC",
            },
            "limit": 50,
        },
        timeout=10,
    )
    answer.raise_for_status()
    events = answer.json()["events"]
    found = []
    for event, after in itertools.pairwise(events):
        # A step that passed; one that ended in a rollback had its weight taken back before
        # its event (the canary is drained first), so its window would not be the step's.
        if (event["event"], after["event"]) != (
            "shipflow.canary.step",
            "shipflow.canary.step.passed",
        ):
            continue
        start = math.ceil(datetime.fromisoformat(event["occurred"]).timestamp()) + 1
        end = math.floor(datetime.fromisoformat(after["occurred"]).timestamp())
        if end - start < 2:
            continue
        counts = httpx.get(
            f"{sandbox.load}/counts", params={"since": start, "until": end}, timeout=10
        ).json()
        users = {v: sum(n for k, n in counts.items() if k.startswith(f"{v}/")) for v in SLOTS}
        query = f'sum by (version) (increase(http_requests_total{{app="{APP}"}}[{end - start}s]))'
        result = httpx.get(
            f"{sandbox.prometheus}/api/v1/query",
            params={"query": query, "time": end},
            timeout=10,
        ).json()["data"]["result"]
        scraped = {r["metric"].get("version", ""): float(r["value"][1]) for r in result}
        found.append(
            Share(
                weight=int(event["payload"]["weight"]),
                seconds=end - start,
                users=_percent(users.get("canary", 0), users.get("stable", 0)),
                prometheus=_percent(scraped.get("canary", 0.0), scraped.get("stable", 0.0)),
            )
        )
    return found


def _percent(canary: float, stable: float) -> float:
    total = canary + stable
    return round(100 * canary / total, 1) if total else 0.0


def _seconds(run: dict[str, Any]) -> float:
    if not run.get("start_time") or not run.get("end_time"):
        return 0.0
    start = datetime.fromisoformat(run["start_time"])
    end = datetime.fromisoformat(run["end_time"])
    return (end - start).total_seconds()


def _interrupt(sandbox: services.Sandbox, release: Release | None) -> str:
    """Cancel the demo's own runs and take traffic back from the canary; what was done."""
    done = []
    if release is not None and release.run_id:
        api = sandbox.prefect_api
        runs = [release.run_id] + [
            c["id"]
            for c in api_filter(
                api, "flow_runs", {"parent_flow_run_id": {"any_": [release.run_id]}}
            )
        ]
        for run_id in runs:
            httpx.post(
                f"{api}/flow_runs/{run_id}/set_state",
                json={
                    "state": {"type": "CANCELLED", "message": "interrupted (Ctrl-C)"},
                    "force": True,
                },
                timeout=10,
            )
        done.append(f"release run {release.run_id} cancelled")
    workloads = sandbox.workloads()
    router = workloads.router(APP)
    weight = router.canary_weight()
    router.set_canary_weight(0)
    if workloads.exists(f"{APP}-canary"):
        workloads.scale(f"{APP}-canary", 0)
    done.insert(0, f"rolled back the canary of {APP} from {weight} % (all traffic on stable)")
    return "; ".join(done)
