"""The production path end to end, as a platform team runs it.

A Prefect server with its UI and API authentication on; ``shipflow deploy`` from shipflow's
installed wheel; process workers started in an empty directory from that install (never the
checkout); ``shipflow webhook serve``; a bare git repository with two commits. Then:

1. a signed push of a sha the repository lacks → that release fails "commit … not found in …"
   and builds nothing;
2. a signed push of the *first* commit while the branch already points at the second → the
   run pauses for approval; an unauthenticated resume is refused (401), the authenticated one
   goes on; the image holds the first commit's content; the canary starts;
3. during the canary's hold the worker and its flow process are SIGKILLed → within the stated
   time the runs are Crashed and traffic and replicas are back on stable, nobody acting;
4. the same sha pushed again (a new delivery) is released;
5. a plan left waiting for approval longer than the dead-run window is not taken for dead: it
   stays Paused (its process heartbeats while it waits) and a rejection still reaches it.

The times from SIGKILL to Crashed and to traffic back are printed (pytest -s).
"""

from __future__ import annotations

import json
import secrets
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipflow.core.liveness import DeadRunPolicy
from shipflow.deployments import local
from shipflow.deployments.sandbox.cluster import APP, KubeApp
from shipflow.deployments.sandbox.fake_kube import FakeKube
from shipflow.deployments.sandbox.traffic import canary_share, traffic
from tests.conftest import ROOT, SESSION_DIR, MetricsApp, Moto, Prometheus
from tests.conftest import Registry as RegistryService
from tests.harness.gitrepo import Repo, make_repo
from tests.harness.images import file_in_image
from tests.harness.production import Api, InstalledShipflow, Proc, install_wheel
from tests.harness.stacks import make_s3_stack
from tests.harness.webhooks import SECRET, sign

pytestmark = pytest.mark.slow

# Heartbeats every 30 s (Prefect's minimum); a run is Crashed after 60 s without one, so 30 s
# of slack for a late heartbeat on a loaded machine, and a crash 30-65 s after the kill.
POLICY = DeadRunPolicy(heartbeat_seconds=30, crashed_after_seconds=60, cancel_confirm_seconds=30)
HOLD_SECONDS = 20  # the canary's hold: long enough to kill the worker in it
MISSING = "0123456789abcdef0123456789abcdef01234567"
# The suite's registry is shared: this test's images go to a repository of their own.
IMAGE = f"shop/web-{uuid.uuid4().hex[:8]}"


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class Production:
    api: Api
    anonymous: Api
    installed: InstalledShipflow
    receiver_url: str
    worker_env: dict[str, str]
    empty: Path
    logs: Path
    stack: ExitStack
    deployed: list[dict[str, str]]

    def worker(self, name: str) -> Proc:
        """``prefect worker start`` from the installed shipflow, in an empty directory."""
        proc = Proc(
            name=f"worker {name}",
            argv=[
                self.installed.python,
                "-m",
                "prefect",
                "worker",
                "start",
                "--pool",
                "shipflow-process",
                "--name",
                name,
            ],
            env=self.worker_env,
            cwd=self.empty,
            log=self.logs / f"worker-{name}.log",
        )

        def registered() -> bool:
            found = self.api.post("/work_pools/shipflow-process/workers/filter").json()
            return any(w["name"] == name for w in found)

        proc.start(registered)
        self.stack.callback(proc.stop)
        return proc

    def push(self, repo: Repo, sha: str) -> str:
        """A signed GitHub push of ``sha`` to main (a new delivery each time)."""
        body = json.dumps(
            {
                "ref": "refs/heads/main",
                "after": sha,
                "repository": {
                    "full_name": "shop/web",
                    "default_branch": "main",
                    "clone_url": repo.url,
                },
                "pusher": {"name": "alice"},
                "commits": [{"added": [], "modified": ["services/web/app.txt"], "removed": []}],
            }
        ).encode()
        response = httpx.post(
            f"{self.receiver_url}/hooks/github",
            content=body,
            headers={
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": sign(body, SECRET),
                "Content-Type": "application/json",
            },
            timeout=30,
        )
        assert response.status_code == 202, response.text
        return sha

    def release_run(self, sha: str, after: set[str] | None = None) -> dict[str, Any]:
        """The release run the trigger made for ``sha`` (a new one, not in ``after``)."""

        def made() -> dict[str, Any] | None:
            for run in self.api.deployment_runs("release"):
                if run["parameters"].get("sha") == sha and run["id"] not in (after or set()):
                    return run
            return None

        found: dict[str, Any] = wait_for(made, 60, f"a release run for {sha[:12]}")
        return found

    def final(self, run_id: str, timeout: float) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            run = self.api.run(run_id)
            return run if run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED") else None

        found: dict[str, Any] = wait_for(done, timeout, f"run {run_id} to end", interval=1)
        return found


@pytest.fixture
def production(tmp_path: Path, moto: Moto, prometheus: Prometheus) -> Iterator[Production]:
    auth = f"admin:{secrets.token_urlsafe(16)}"
    logs = tmp_path / "logs"
    logs.mkdir()
    empty = tmp_path / "empty"
    empty.mkdir()
    with ExitStack() as stack:
        port = local.free_port()
        server = local.prefect_server(
            port,
            tmp_path,
            ui=True,
            settings={"PREFECT_SERVER_API_AUTH_STRING": auth},
        )
        stack.enter_context(local.running(server))
        api_url = f"http://127.0.0.1:{port}/api"
        installed = install_wheel(ROOT, tmp_path / "install")
        where = Proc(
            name="python",
            argv=[installed.python, "-c", "import shipflow; print(shipflow.__file__)"],
            env={},
            cwd=empty,
            log=logs / "where.log",
        ).run()
        assert where.stdout.startswith(str(installed.venv)), where  # the wheel, not the checkout
        client_env = {
            "PREFECT_API_URL": api_url,
            "PREFECT_API_AUTH_STRING": auth,
            "PREFECT_HOME": str(tmp_path / "prefect-client-home"),
            "PATH": f"{installed.bin}:/usr/local/bin:/usr/bin:/bin",
        }
        deploy = Proc(
            name="shipflow deploy",
            argv=[
                installed.bin / "shipflow",
                "deploy",
                "--json",
                "--heartbeat",
                str(POLICY.heartbeat_seconds),
                "--crashed-after",
                str(POLICY.crashed_after_seconds),
                "--cancel-after",
                str(POLICY.cancel_confirm_seconds),
            ],
            env=client_env,
            cwd=empty,
            log=logs / "deploy.log",
        )
        done = deploy.run()
        assert done.returncode == 0, done.stderr[-3000:]
        deployed = json.loads(done.stdout)
        worker_env = {
            **client_env,
            "KUBECONFIG": str(SESSION_DIR / "kubeconfig"),
            "SHIPFLOW_PROMETHEUS_URL": prometheus.url,
            # Workers poll every 5 s here (Prefect's default is 10 s).
            "PREFECT_WORKER_QUERY_SECONDS": "5",
        }
        receiver_port = local.free_port()
        receiver = Proc(
            name="receiver",
            argv=[installed.bin / "shipflow", "webhook", "serve", "--port", str(receiver_port)],
            env={
                **client_env,
                "SHIPFLOW_WEBHOOK_GITHUB_SECRET": SECRET,
                "SHIPFLOW_WEBHOOK_SEEN_PATH": str(tmp_path / "seen.sqlite"),
            },
            cwd=empty,
            log=logs / "receiver.log",
        )
        receiver.start(local.http_ready(f"http://127.0.0.1:{receiver_port}/healthz"))
        stack.callback(receiver.stop)
        yield Production(
            api=Api(api_url, auth),
            anonymous=Api(api_url),
            installed=installed,
            receiver_url=f"http://127.0.0.1:{receiver_port}",
            worker_env=worker_env,
            empty=empty,
            logs=logs,
            stack=stack,
            deployed=deployed["changes"],
        )


def repository(root: Path, base: str, registry: str, moto: Moto, namespace: str) -> Repo:
    """The first commit: a service (app.txt "v1"), its stack, shipflow.toml with a short
    canary; the second commit changes app.txt to "v2"."""
    stack = make_s3_stack(root / "scratch", moto.endpoint, count=1)
    config = textwrap.dedent(f"""\
        [services.web]
        image = {{ context = "services/web", repository = "{registry}/{IMAGE}" }}
        stack = "infra/web"
        namespace = "{namespace}"
        paths = ["services/web/", "infra/"]

        [services.web.policy]
        steps = [{{ weight = 25, hold_seconds = {HOLD_SECONDS} }}]
        check_interval_seconds = 1
        min_requests = 20
        inconclusive_limit = 4
        progress_deadline_seconds = 20
        """)
    repo = make_repo(root)
    repo.commit(
        {
            "services/web/app.txt": "v1\n",
            "services/web/Dockerfile": f"FROM {base}\nCOPY app.txt /app/app.txt\nUSER 1000\n",
            **{f"infra/web/{f.name}": f.read_text() for f in stack.path.iterdir() if f.is_file()},
            "shipflow.toml": config,
        },
        "first",
    )
    repo.commit({"services/web/app.txt": "v2\n"}, "second")
    return repo


def canary_state(fake: FakeKube, namespace: str) -> tuple[float, int]:
    """(canary's share of traffic by the route, canary replicas)."""
    with fake.store.lock:
        canary = fake.store.objects.get(("deployments", namespace, f"{APP}-canary"))
        replicas = int(canary["spec"].get("replicas", 0)) if canary else 0
    return canary_share(fake, namespace, "gateway"), replicas


def test_release_of_exactly_the_merged_commit_survives_a_dead_worker(
    production: Production,
    tmp_path: Path,
    base_image: str,
    registry: RegistryService,
    moto: Moto,
    kube_app: KubeApp,
    fake_kube: FakeKube,
    metrics_app: MetricsApp,
) -> None:
    started = time.monotonic()
    api = production.api
    outcomes = {c["what"]: c["outcome"] for c in production.deployed}
    assert outcomes["work pool 'shipflow-process' (process)"] == "created"
    assert sum(o == "created" for o in outcomes.values()) == len(outcomes)
    repo = repository(tmp_path, base_image, registry.host, moto, kube_app.namespace)
    first, second = repo.commits
    worker_a = production.worker("A")
    # The worker runs shipflow from its wheel, not from this checkout.
    assert ROOT.as_posix() not in (production.logs / "worker-A.log").read_text()

    # 1. A sha the repository lacks: the release fails by name and builds nothing.
    production.push(repo, MISSING)
    missing = production.final(production.release_run(MISSING)["id"], timeout=120)
    assert missing["state"]["type"] == "FAILED"
    assert f"commit {MISSING} not found in {repo.url}" in missing["state"]["message"]
    assert registry.tags(IMAGE) == []
    assert api.children(missing["id"]) == []  # no build_and_push, nothing

    # A second run on worker A, still building when A dies: it is cancelled after the kill.
    slow = tmp_path / "slow-build"
    slow.mkdir()
    (slow / "Dockerfile").write_text(
        f'FROM {base_image}\nRUN ["/bin/busybox", "sleep", "600"]\nUSER 1000\n'
    )
    building = api.post(
        f"/deployments/{_deployment_id(api, 'build-and-push')}/create_flow_run",
        {
            "parameters": {
                "context": str(slow),
                "repository": f"{registry.host}/shop/slow",
                "git_sha": second,
            }
        },
    ).json()

    with traffic(fake_kube, metrics_app, kube_app.namespace, "gateway", APP):
        # 2. The first commit, while main already points at the second.
        assert repo.commits[-1] == second
        production.push(repo, first)
        run = production.release_run(first)

        def paused() -> dict[str, Any] | None:
            for child in api.children(run["id"]):
                if child["state"]["type"] == "PAUSED":
                    return child
            current = api.run(run["id"])["state"]["type"]
            assert current not in ("FAILED", "CRASHED", "COMPLETED"), api.run(run["id"])
            return None

        plan = wait_for(paused, 240, "the plan's approval pause", interval=1)
        approval = {"approve": True, "approver": "alice", "comment": "e2e"}
        refused = production.anonymous.post(
            f"/flow_runs/{plan['id']}/resume", {"run_input": approval}
        )
        assert refused.status_code == 401
        assert api.run(plan["id"])["state"]["type"] == "PAUSED"
        assert api.post(f"/flow_runs/{plan['id']}/resume", {"run_input": approval}).is_success
        # Built from exactly the pushed commit: the first commit's content, not main's.
        assert file_in_image(registry.host, IMAGE, first, "app/app.txt") == "v1\n"
        assert registry.tags(IMAGE) == [first]

        # 3. The canary holds at 25 %: kill the worker and its flow process, as a node dies.
        wait_for(lambda: canary_state(fake_kube, kube_app.namespace)[0] > 0, 180, "canary traffic")
        worker_b = production.worker("B")  # the other node, still up
        assert api.run(building["id"])["state"]["type"] == "RUNNING", api.run(building["id"])
        killed = worker_a.kill_tree()
        t_kill = time.monotonic()
        assert len(killed) >= 3  # the worker and the flow processes below it
        assert canary_state(fake_kube, kube_app.namespace)[0] > 0
        # A plan on worker B (the only worker now), left waiting for approval while the rest
        # goes on: an approval can take longer than the dead-run window.
        waiting_stack = make_s3_stack(tmp_path / "waiting", moto.endpoint, count=1)
        waiting = api.post(
            f"/deployments/{_deployment_id(api, 'terraform-release')}/create_flow_run",
            {"parameters": {"stack": str(waiting_stack.path)}},
        ).json()
        # Cancelling a run whose worker is gone: nobody confirms it, the automation does.
        cancel = api.post(
            f"/flow_runs/{building['id']}/set_state", {"state": {"type": "CANCELLING"}}
        )
        assert cancel.json()["status"] == "ACCEPT", cancel.text
        wait_for(
            lambda: api.run(building["id"])["state"]["type"] == "CANCELLED",
            POLICY.cancelled_within() + 30,
            "the cancelled build to end Cancelled",
        )
        t_cancelled = time.monotonic() - t_kill

        def crashed() -> bool:
            return api.run(run["id"])["state"]["type"] == "CRASHED"

        wait_for(crashed, POLICY.crashed_within()[1] + 30, "the release run to be Crashed")
        t_crashed = time.monotonic() - t_kill
        wait_for(
            lambda: canary_state(fake_kube, kube_app.namespace) == (0.0, 0),
            120,
            "traffic and replicas back on stable",
        )
        t_back = time.monotonic() - t_kill
        crashed_runs = [
            r
            for r in [api.run(run["id"]), *api.children(run["id"])]
            if r["state"]["type"] == "CRASHED"
        ]
        message = api.run(run["id"])["state"]["message"]
        reconcile = api.deployment_runs("reconcile-canary")
        # The killed run could not remove its checkout; the next release removes it.
        left = list(Path(tempfile.gettempdir()).glob(f"shipflow-run-{run['id']}-*"))

        # 4. The same sha again, a new delivery: the dead run's claim is taken over.
        production.push(repo, first)
        again = production.release_run(first, after={run["id"]})
        done = production.final(again["id"], timeout=300)
        swept = [p for p in left if not p.exists()]

        # The plan has waited longer than a dead run takes to be Crashed, and is still Paused.
        def waited_past_the_window() -> bool:
            state = api.run(waiting["id"])["state"]
            assert state["type"] in ("PENDING", "RUNNING", "PAUSED"), state
            if state["type"] != "PAUSED":
                return False
            since = datetime.now(UTC) - datetime.fromisoformat(state["timestamp"])
            return since.total_seconds() > POLICY.crashed_within()[1] + 5

        wait_for(waited_past_the_window, 240, "the plan to wait past the window", interval=1)
        t_waited = (
            datetime.now(UTC) - datetime.fromisoformat(api.run(waiting["id"])["state"]["timestamp"])
        ).total_seconds()
        rejection = {"approve": False, "approver": "alice", "comment": "not now"}
        assert api.post(f"/flow_runs/{waiting['id']}/resume", {"run_input": rejection}).is_success
        rejected = wait_for(
            lambda: (r := api.run(waiting["id"]))["state"]["type"] == "CANCELLED" and r,
            60,
            "the rejected plan to end",
        )

        # 5. Only the worker dies (its flow process lives on until its output meets the
        # broken pipe): the run's crash hooks take traffic back and its final message says
        # what happened.
        canary = api.post(
            f"/deployments/{_deployment_id(api, 'promote-canary')}/create_flow_run",
            {
                "parameters": {
                    "app": APP,
                    "image": done_image(registry.host, first),
                    "policy": {
                        "steps": [{"weight": 25, "hold_seconds": HOLD_SECONDS}],
                        "check_interval_seconds": 1,
                        "min_requests": 20,
                        "progress_deadline_seconds": 20,
                    },
                    "cluster": {"namespace": kube_app.namespace},
                    "router": {"kind": "gateway"},
                }
            },
        ).json()
        wait_for(lambda: canary_state(fake_kube, kube_app.namespace)[0] > 0, 120, "canary traffic")
        assert worker_b.popen is not None
        worker_b.popen.kill()  # the worker alone: its flow process is in a session of its own
        production.final(canary["id"], timeout=60)
        # Crashed comes first, then the crash hooks: the rollback, and the final message.
        lone = wait_for(
            lambda: (r := api.run(canary["id"]))["state"]["message"].startswith("the worker") and r,
            60,
            "the lone worker's run to say what happened",
        )
        back_after_lone = wait_for(
            lambda: canary_state(fake_kube, kube_app.namespace) == (0.0, 0),
            60,
            "the crash hook's rollback",
        )

    low, high = POLICY.crashed_within()
    total = time.monotonic() - started
    print(
        f"\nproduction e2e: SIGKILL -> Crashed {t_crashed:.0f}s (stated {low}-{high}s), "
        f"-> traffic and replicas on stable {t_back:.0f}s; a cancel no worker confirms -> "
        f"Cancelled {t_cancelled:.0f}s (stated {POLICY.cancelled_within()}s); a plan paused "
        f"{t_waited:.0f}s stayed Paused; "
        f"whole test {total:.0f}s"
    )
    assert t_cancelled <= POLICY.cancelled_within() + 5
    assert t_crashed <= POLICY.crashed_within()[1] + 5
    assert "no heartbeat for 60s" in message
    # The release run and its promote_canary subflow (build and plan had completed).
    assert len(crashed_runs) == 2
    assert run["id"] in {r["id"] for r in crashed_runs}
    assert any(r["state"]["type"] == "COMPLETED" for r in reconcile), reconcile
    assert done["state"]["type"] == "COMPLETED", done["state"]["message"]
    assert len(left) == 1
    assert swept == left
    assert done["state"]["message"].startswith(f"released {first[:12]} of shop/web: web")
    assert lone["state"]["type"] == "CRASHED"
    assert lone["state"]["message"].startswith("the worker that started this flow run (process ")
    assert "died, and the flow process stopped with it" in lone["state"]["message"]
    assert back_after_lone
    assert "rejected by alice: not now" in rejected["state"]["message"]


def _deployment_id(api: Api, name: str) -> str:
    found = api.post("/deployments/filter", {"deployments": {"name": {"any_": [name]}}}).json()
    return str(found[0]["id"])


def done_image(registry: str, tag: str) -> str:
    digest = httpx.head(
        f"http://{registry}/v2/{IMAGE}/manifests/{tag}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    ).headers["Docker-Content-Digest"]
    return f"{registry}/{IMAGE}@{digest}"
