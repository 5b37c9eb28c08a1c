"""Each real service the suite starts, used through the library a user would use."""

from __future__ import annotations

import hashlib
import socket
import uuid

import boto3
import httpx
from prometheus_api_client import PrometheusConnect

from shipflow.adapters.waiting import poll_until
from tests.conftest import HAProxy, MetricsApp, Moto, PrefectServer, Prometheus, Registry


def test_prometheus_scrapes_the_test_app(prometheus: Prometheus, metrics_app: MetricsApp) -> None:
    client = PrometheusConnect(url=prometheus.url, disable_ssl=True)
    series: list[dict] = poll_until(
        lambda: client.custom_query('sum by (version) (http_requests_total{app="web"})') or None,
        timeout=20,
        interval=0.5,
    )
    assert {s["metric"]["version"] for s in series} >= {"stable"}
    assert float(series[0]["value"][1]) > 0


def test_a_blob_round_trips_through_the_registry(registry: Registry) -> None:
    blob = b"shipflow test blob " + uuid.uuid4().bytes
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    base = f"http://{registry.host}/v2/shipflow/test"
    start = httpx.post(f"{base}/blobs/uploads/")
    assert start.status_code == 202
    location = start.headers["Location"]
    url = location if location.startswith("http") else f"http://{registry.host}{location}"
    # The upload URL carries its own state in the query string: add the digest to it.
    put = httpx.put(
        httpx.URL(url).copy_merge_params({"digest": digest}),
        content=blob,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert put.status_code == 201
    assert httpx.get(f"{base}/blobs/{digest}").content == blob


def test_an_object_round_trips_through_s3_on_moto(moto: Moto) -> None:
    s3 = boto3.client("s3", endpoint_url=moto.endpoint)
    bucket = f"shipflow-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="state/terraform.tfstate", Body=b'{"serial": 3}')
    body = s3.get_object(Bucket=bucket, Key="state/terraform.tfstate")["Body"].read()
    assert body == b'{"serial": 3}'


def test_a_flow_run_completes_in_the_prefect_server(prefect_server: PrefectServer) -> None:
    from prefect import flow
    from prefect.client.orchestration import get_client

    @flow(name="harness-check")
    def add(a: int, b: int) -> int:
        return a + b

    state = add(2, 3, return_state=True)
    assert state.result() == 5
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.state is not None
    assert run.state.is_completed()
    assert run.parameters == {"a": 2, "b": 3}


def test_haproxy_runtime_api_changes_a_server_weight(haproxy: HAProxy) -> None:
    def runtime(command: str) -> str:
        with socket.create_connection(("127.0.0.1", haproxy.runtime_port), 2) as sock:
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(4096):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    runtime("set weight app/canary 25")
    assert runtime("get weight app/canary").startswith("25 (initial 0)")
    response = httpx.get(f"http://127.0.0.1:{haproxy.frontend_port}/control")
    assert response.status_code == 200
