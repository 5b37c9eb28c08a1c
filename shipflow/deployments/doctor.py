"""``shipflow doctor --worker``: does this machine have what a shipflow worker needs?

Each check looks at one thing the flows use — Terraform, buildah, git and read access to the
repositories, the registry credentials block, the cluster, Prometheus, the Prefect API and
the work pool — and says what it found or, when something is missing, how to fix it.
Nothing secret is shown: blocks are checked for their shape, never printed.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from shipflow.adapters.binaries import find_binary
from shipflow.adapters.git import Git
from shipflow.adapters.terraform import Terraform, find_terraform
from shipflow.core.commits import display_url
from shipflow.core.worker import MIN_TERRAFORM, Check, terraform_version_problem
from shipflow.deployments.api import prefect_api_url, prefect_auth_headers
from shipflow.errors import ShipflowError
from shipflow.settings import Settings, load_settings
from shipflow.tasks.common import load_secret
from shipflow.tasks.git import git_credentials


def check_terraform(settings: Settings) -> Check:
    want = ".".join(map(str, MIN_TERRAFORM))
    fix = (
        f"install Terraform or OpenTofu >= {want} on the worker's PATH "
        "(https://developer.hashicorp.com/terraform/install), or point SHIPFLOW_TERRAFORM_BIN "
        "at it"
    )
    try:
        binary = find_terraform(settings.terraform_bin)
        version = Terraform(workdir=Path.cwd(), binary=binary, timeout=60).version()
    except ShipflowError as exc:
        return Check("terraform", False, f"missing: {exc}", fix)
    problem = terraform_version_problem(version)
    where = f"{binary.path} (from {binary.origin})"
    if problem:
        return Check("terraform", False, f"{problem}, at {where}", fix)
    return Check("terraform", True, f"{version} at {where}")


def check_buildah(settings: Settings) -> Check:
    fix = (
        "apt-get install -y buildah (builds run rootless with --isolation chroot; "
        "SHIPFLOW_BUILDAH_STORAGE_DRIVER=vfs where overlay is unavailable)"
    )
    path = find_binary("buildah")
    if path is None:
        return Check("buildah", False, "missing: no buildah on PATH", fix)
    done = subprocess.run(
        [path, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    if done.returncode != 0:
        return Check("buildah", False, f"{path} does not run: {done.stderr.strip()[-200:]}", fix)
    driver = settings.buildah_storage_driver or "buildah's default"
    return Check("buildah", True, f"{done.stdout.strip()} at {path}, storage {driver}")


def check_git(settings: Settings, repos: Sequence[str]) -> list[Check]:
    try:
        git = Git(timeout=60, credentials=git_credentials(settings.git_credentials_block))
        version = git.version()
    except ShipflowError as exc:
        fix = (
            "apt-get install -y git"
            if "not installed" in str(exc)
            else "create the Secret block SHIPFLOW_GIT_CREDENTIALS_BLOCK names (a token)"
        )
        return [Check("git", False, f"missing: {exc}", fix)]
    except Exception as exc:  # the Prefect API itself failed: said by the prefect check
        return [Check("git", False, f"cannot read the git credentials block: {exc}", "")]
    how = (
        f"credentials from Secret block {settings.git_credentials_block!r}"
        if settings.git_credentials_block
        else "the worker's own git configuration (credential helpers, SSH keys)"
    )
    found = [Check("git", True, f"git {version}; {how}")]
    if not repos:
        found.append(
            Check(
                "git access",
                True,
                "not checked: pass --repo URL for each repository releases fetch from",
            )
        )
    for url in repos:
        shown = display_url(url)
        try:
            head = git.ls_remote(url)
        except ShipflowError as exc:
            found.append(
                Check(
                    f"git access {shown}",
                    False,
                    f"cannot read it: {exc}",
                    "give the worker read access: a token in a Prefect Secret block named by "
                    "SHIPFLOW_GIT_CREDENTIALS_BLOCK, or a credential helper / SSH key in the "
                    "worker's git configuration",
                )
            )
            continue
        found.append(Check(f"git access {shown}", True, f"readable (HEAD {head[:12]})"))
    return found


def check_registry_credentials(settings: Settings) -> Check:
    block = settings.registry_credentials_block
    create = (
        "python -c \"from prefect.blocks.system import Secret; Secret(value={'username': '…', "
        "'password': '…'}).save('registry-ci')\" and set "
        "SHIPFLOW_REGISTRY_CREDENTIALS_BLOCK=registry-ci"
    )
    if not block:
        return Check(
            "registry credentials",
            False,
            "missing: SHIPFLOW_REGISTRY_CREDENTIALS_BLOCK is not set (pushes would go without "
            "a login)",
            create,
        )
    try:
        value: Any = load_secret(block, field="SHIPFLOW_REGISTRY_CREDENTIALS_BLOCK")
    except ShipflowError as exc:
        return Check("registry credentials", False, f"missing: {exc}", create)
    except Exception as exc:  # the Prefect API itself failed: said by the prefect check
        return Check("registry credentials", False, f"cannot read {block!r}: {exc}", create)
    if not isinstance(value, dict) or not {"username", "password"} <= set(value):
        return Check(
            "registry credentials",
            False,
            f"block {block!r} does not hold {{'username', 'password'}}",
            create,
        )
    return Check("registry credentials", True, f"block {block!r} holds a username and password")


def check_kubernetes() -> Check:
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    fix = (
        "set KUBECONFIG to a kubeconfig whose current context reaches the cluster with rights "
        "on Deployments and the route objects (or run the worker inside the cluster)"
    )
    configured = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    try:
        if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
            k8s_config.load_incluster_config()  # type: ignore[no-untyped-call]
            api = k8s.ApiClient()
            where = "in-cluster service account"
        else:
            api = k8s_config.new_client_from_config(config_file=configured)  # type: ignore[no-untyped-call]
            where = f"{configured} ({api.configuration.host})"
    except Exception as exc:  # the client raises ConfigException, OSError, TypeError…
        return Check("kubernetes", False, f"missing: no usable kubeconfig ({exc})", fix)
    try:
        versions = k8s.CoreApi(api).get_api_versions(_request_timeout=10)
    except Exception as exc:  # ApiException, urllib3 connection errors
        reason = getattr(exc, "reason", None) or type(exc).__name__
        return Check("kubernetes", False, f"the API at {where} does not answer: {reason}", fix)
    return Check("kubernetes", True, f"{where} answers (API {', '.join(versions.versions)})")


def check_prometheus(settings: Settings) -> Check:
    url = settings.prometheus_url.rstrip("/")
    fix = "set SHIPFLOW_PROMETHEUS_URL to the Prometheus that scrapes your apps"
    try:
        response = httpx.get(f"{url}/-/ready", timeout=10)
    except httpx.HTTPError as exc:
        return Check("prometheus", False, f"{url} does not answer ({type(exc).__name__})", fix)
    if response.status_code != 200:
        return Check("prometheus", False, f"{url}/-/ready answered {response.status_code}", fix)
    return Check("prometheus", True, f"{url} is ready")


def check_prefect(pool: str) -> list[Check]:
    url = prefect_api_url()
    if not url:
        return [
            Check(
                "prefect api",
                False,
                "missing: PREFECT_API_URL is not set",
                "set PREFECT_API_URL=http(s)://<server>/api (and PREFECT_API_AUTH_STRING when "
                "the server has API authentication on)",
            )
        ]
    try:
        response = httpx.get(f"{url}/work_pools/{pool}", headers=prefect_auth_headers(), timeout=10)
    except httpx.HTTPError as exc:
        return [
            Check(
                "prefect api",
                False,
                f"{url} does not answer ({type(exc).__name__})",
                "start the server, or correct PREFECT_API_URL",
            )
        ]
    if response.status_code == 401:
        return [
            Check(
                "prefect api",
                False,
                f"{url} refused the worker (401)",
                "set PREFECT_API_AUTH_STRING to the server's PREFECT_SERVER_API_AUTH_STRING",
            )
        ]
    found = [Check("prefect api", True, f"{url} answers")]
    if response.status_code == 404:
        found.append(Check("work pool", False, f"no work pool {pool!r}", "run shipflow deploy"))
    elif response.status_code == 200:
        found.append(Check("work pool", True, f"{pool!r} ({response.json().get('type')})"))
    else:
        found.append(
            Check("work pool", False, f"reading {pool!r} answered {response.status_code}", "")
        )
    return found


def worker_checks(repos: Sequence[str] = (), pool: str = "shipflow-process") -> list[Check]:
    """Every check, in the order a release uses the parts."""
    settings = load_settings()
    steps: list[Callable[[], Check | list[Check]]] = [
        lambda: check_prefect(pool),
        lambda: check_git(settings, repos),
        lambda: check_buildah(settings),
        lambda: check_registry_credentials(settings),
        lambda: check_terraform(settings),
        check_kubernetes,
        lambda: check_prometheus(settings),
    ]
    found: list[Check] = []
    for step in steps:
        result = step()
        found.extend(result if isinstance(result, list) else [result])
    return found
