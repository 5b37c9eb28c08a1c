"""detect_drift against real Terraform, a provider whose refresh sees the disk, and S3 on moto."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from prefect.blocks.system import Secret

from shipflow.adapters.terraform import Terraform, find_terraform
from shipflow.flows.detect_drift import detect_drift
from tests.harness.prefect_api import artifacts, events
from tests.harness.stacks import make_s3_stack
from tests.harness.tfprovider.install import PROVIDER_BLOCK, install

pytestmark = pytest.mark.usefixtures("prefect_server")


@pytest.fixture
def provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(install(tmp_path / "tf")))


def file_stack(root: Path, name: str, files: Path) -> Path:
    """A stack of two files, applied (so its state matches the disk)."""
    path = root / name
    path.mkdir(parents=True)
    (path / "main.tf").write_text(
        PROVIDER_BLOCK
        + f"""
resource "localfile_file" "config" {{
  path            = "{files}/{name}-config.json"
  content         = "v1"
  tags            = {{ env = "prod", owner = "platform" }}
  sensitive_token = "tok-do-not-leak-1234"
}}
resource "localfile_file" "motd" {{
  path    = "{files}/{name}-motd.json"
  content = "hello"
}}
"""
    )
    tf = Terraform(workdir=path, binary=find_terraform())
    tf.init()
    tf.apply(tf.plan(path / "first.tfplan").plan_file)
    (path / "first.tfplan").unlink()
    return path


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records what it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                outer.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def test_each_stack_is_classified_with_addresses_and_attribute_paths(
    provider: None, tmp_path: Path, moto, receiver: Receiver
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    clean = file_stack(tmp_path, "clean", files)
    drifted = file_stack(tmp_path, "drifted", files)
    pending = file_stack(tmp_path, "pending", files)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "main.tf").write_text('resource "terraform_data" "x" { input = var.missing }\n')
    locked = make_s3_stack(tmp_path, moto.endpoint, count=2)
    Terraform(workdir=locked.path, binary=find_terraform()).init()
    locked.write_lock(who="bob@ci-runner-7", lock_id="lock-99")

    # Out of band: someone edits the drifted stack's file; the pending stack's code changes.
    config = files / "drifted-config.json"
    body = json.loads(config.read_text())
    body["tags"]["env"] = "staging"
    config.write_text(json.dumps(body))
    (pending / "main.tf").write_text((pending / "main.tf").read_text().replace('"hello"', '"hi"'))

    Secret(value=receiver.url).save("drift-webhook", overwrite=True)
    stacks = [str(p) for p in (clean, drifted, pending, broken, locked.path)]
    state = detect_drift(
        stacks=stacks, max_parallel=2, notify_block="drift-webhook", return_state=True
    )
    assert state.is_completed(), state.message
    assert state.message == "1 clean, 1 drifted, 1 pending, 2 error"
    reports = {r["stack"]: r for r in state.result()}
    assert reports["clean"]["status"] == "clean"
    assert reports["drifted"]["status"] == "drifted"
    assert [(d["address"], d["paths"]) for d in reports["drifted"]["drifted"]] == [
        ("localfile_file.config", ['tags["env"]'])
    ]
    assert reports["pending"]["status"] == "pending"
    assert [(p["address"], p["paths"]) for p in reports["pending"]["pending"]] == [
        ("localfile_file.motd", ["content"])
    ]
    assert reports["broken"]["status"] == "error"
    assert "missing" in reports["broken"]["reason"]
    assert reports[locked.name]["status"] == "error"
    assert reports[locked.name]["reason"] == "locked by bob@ci-runner-7 (lock ID lock-99)"
    assert locked.lock_exists()  # never removed

    run_id = state.state_details.flow_run_id
    keys = {a["key"] for a in artifacts(run_id)}
    assert {"drift-report", "drift-drifted"} <= keys
    detected = events(
        "shipflow.terraform.stack.drifted", until=lambda n: "shipflow.terraform.drift.detected" in n
    )
    assert detected[-1]["payload"]["resources"] == {"localfile_file.config": ['tags["env"]']}
    assert len(receiver.bodies) == 1
    assert "drifted" in receiver.bodies[0]["text"]
    assert "tok-do-not-leak" not in json.dumps(receiver.bodies) + json.dumps(state.result())

    # The same drift again: no second notification. A new drift elsewhere: one more.
    again = detect_drift(
        stacks=stacks, max_parallel=2, notify_block="drift-webhook", return_state=True
    )
    assert again.is_completed()
    assert len(receiver.bodies) == 1
    motd = files / "clean-motd.json"
    motd.write_text(json.dumps({**json.loads(motd.read_text()), "content": "hacked"}))
    detect_drift(stacks=stacks, max_parallel=2, notify_block="drift-webhook")
    assert len(receiver.bodies) == 2
    assert "clean" in receiver.bodies[1]["text"]


def test_every_stack_erroring_fails_the_run(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "main.tf").write_text("resource {\n")
    state = detect_drift(stacks=[str(broken)], return_state=True)
    assert state.is_failed()
    assert state.message.startswith("every stack errored:")


def test_one_bad_stack_is_one_error_and_the_scan_goes_on(
    provider: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    root = tmp_path / "repo"
    good = file_stack(root, "good", files)
    garbled = root / "garbled"  # found by the search: it mentions a backend, does not parse
    garbled.mkdir()
    (garbled / "main.tf").write_text('terraform {\n  backend "s3" {\n')
    (root / "notes").mkdir()  # named, but holds no Terraform
    monkeypatch.setenv("SHIPFLOW_STACKS_ROOT", str(root))
    state = detect_drift(
        stacks=[str(good), "gone-since-yesterday", "notes"], stack_glob="*", return_state=True
    )
    assert state.is_completed(), state.message
    assert state.message == "1 clean, 3 error"
    reports = {r["stack"]: r for r in state.result()}
    assert reports["good"]["status"] == "clean"
    assert "gone-since-yesterday is not a directory" in reports["gone-since-yesterday"]["reason"]
    assert "holds no *.tf files" in reports["notes"]["reason"]
    assert reports["garbled"]["reason"].startswith("not scanned, its HCL does not parse")
    [table] = [a for a in artifacts(state.state_details.flow_run_id) if a["key"] == "drift-report"]
    rows = json.loads(table["data"])
    assert {r["stack"] for r in rows} == {"good", "garbled", "notes", "gone-since-yesterday"}


def test_stack_glob_finds_stacks_with_state(
    provider: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    file_stack(tmp_path / "envs", "prod", files)
    (tmp_path / "envs" / "notes").mkdir()  # no Terraform here
    monkeypatch.setenv("SHIPFLOW_STACKS_ROOT", str(tmp_path))
    state = detect_drift(stack_glob="envs/*", return_state=True)
    assert state.is_completed()
    assert state.message == "1 clean"


def test_a_plan_that_fails_part_way_is_an_error_with_terraforms_reason(
    provider: None, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    stack = file_stack(tmp_path, "gated", files)
    (stack / "gate.tf").write_text(
        'resource "terraform_data" "gate" {\n  input = "x"\n  lifecycle {\n'
        '    precondition {\n      condition     = localfile_file.motd.content == "bye"\n'
        '      error_message = "motd must say bye before the gate"\n    }\n  }\n}\n'
    )
    state = detect_drift(stacks=[str(stack)], return_state=True)
    assert state.is_failed()  # its only stack errored
    assert "motd must say bye before the gate" in state.message
    assert "clean" not in state.message


def deployment_parameters(name: str) -> dict:
    root = Path(__file__).resolve().parents[2]
    config = yaml.safe_load((root / "prefect.yaml").read_text())
    [deployment] = [d for d in config["deployments"] if d["name"] == name]
    return dict(deployment.get("parameters") or {})


def test_the_daily_deployments_defaults_find_stacks_two_levels_deep(
    provider: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tmp_path / "files"
    (files / "infra").mkdir(parents=True)
    repo = tmp_path / "repo"
    for name in ("infra/web", "infra/dns"):  # the README's layout
        path = file_stack(repo, name, files)
        (path / "terraform.tfstate").rename(path / "moved-away.tfstate.bak")
        (path / "backend.tf").write_text(
            f'terraform {{\n  backend "local" {{\n    path = "{path}/moved-away.tfstate.bak"\n'
            "  }\n}\n"
        )
        Terraform(workdir=path, binary=find_terraform()).run(
            ["init", "-input=false", "-no-color", "-migrate-state", "-force-copy"]
        )
    module = repo / "infra" / "modules" / "net"
    module.mkdir(parents=True)
    (module / "main.tf").write_text('variable "cidr" {}\n')  # a module: no backend, not scanned
    monkeypatch.setenv("SHIPFLOW_STACKS_ROOT", str(repo))
    state = detect_drift(**deployment_parameters("detect-drift"), return_state=True)
    assert state.is_completed(), state.message
    assert state.message == "2 clean"
    assert sorted(r["stack"] for r in state.result()) == ["dns", "web"]


def test_no_stack_found_is_an_error_naming_the_folder_searched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "modules" / "net").mkdir(parents=True)
    (tmp_path / "modules" / "net" / "main.tf").write_text('variable "cidr" {}\n')
    monkeypatch.setenv("SHIPFLOW_STACKS_ROOT", str(tmp_path))
    state = detect_drift(return_state=True)
    assert state.is_failed()
    assert f"no Terraform stack found under {tmp_path.resolve()}" in state.message
