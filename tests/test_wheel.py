"""The wheel a user installs: one top-level package, every import declared, working commands.

The wheel is built from this checkout and installed into a fresh venv without the dev extras,
from the wheels ``scripts/bootstrap`` keeps in ``.venv/wheels`` (no network, about a minute).
Every check runs that venv's Python in a folder outside the checkout, so nothing of the
checkout can be imported by accident.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

WHEELS = ROOT / ".venv" / "wheels"
UNDECLARED = ROOT / "tests" / "harness" / "undeclared.py"


@dataclass(frozen=True)
class FreshVenv:
    bin: Path
    outside: Path  # a folder outside the checkout, the working directory of every check

    def run(self, *argv: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        return subprocess.run(
            [str(a) for a in argv],
            cwd=self.outside,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def python(self, *argv: str | Path) -> subprocess.CompletedProcess[str]:
        # -I: no PYTHONPATH, no user site, not the script's or the current folder on sys.path.
        return self.run(self.bin / "python", "-I", *argv)


def _check(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> FreshVenv:
    if not any(WHEELS.glob("*.whl")):
        pytest.fail(f"no wheels in {WHEELS}: run bash scripts/bootstrap (it keeps them there)")
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(
        ROOT,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    offline = ["--no-index", "--find-links", str(WHEELS)]
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _check(
        subprocess.run(
            [*pip, "wheel", "-q", "--no-deps", *offline, "-w", str(work / "dist"), str(source)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    )
    (wheel,) = (work / "dist").glob("shipflow-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True, timeout=120)
    fresh = FreshVenv(bin=work / "venv" / "bin", outside=work)
    _check(fresh.run(fresh.bin / "pip", "install", "-q", *offline, wheel, timeout=600))
    return fresh


def test_installs_one_top_level_package_and_no_dev_extras(venv: FreshVenv) -> None:
    listed = _check(
        venv.python(
            "-c",
            "import importlib.metadata as m, json;"
            "print(json.dumps(sorted({str(f).split('/')[0] for f in m.files('shipflow')})))",
        )
    )
    assert json.loads(listed) == ["..", "shipflow", "shipflow-0.1.0.dist-info"]  # .. = bin/
    _check(venv.python("-c", "import shipflow.flows.promote_canary"))
    for name in ("flows", "tasks", "deployments", "pytest", "moto"):
        done = venv.python("-c", f"import {name}")
        assert done.returncode == 1, f"import {name} worked in the fresh venv"
        assert f"ModuleNotFoundError: No module named '{name}'" in done.stderr


def test_commands_work(venv: FreshVenv) -> None:
    assert "Exit codes: 0 ok, 1 error" in _check(venv.run(venv.bin / "shipflow", "--help"))
    report = json.loads(_check(venv.run(venv.bin / "shipflow", "doctor", "--json")))
    assert report["terraform"].get("version"), report["terraform"]
    assert report["prefect"]["version"].startswith("3.")


def test_every_import_of_the_package_is_a_declared_dependency(venv: FreshVenv) -> None:
    _check(venv.run(venv.bin / "pip", "check"))
    found = json.loads(_check(venv.python(UNDECLARED, "shipflow")))
    assert found["undeclared"] == {}, found
    assert found["missing"] == {}, found
    assert {"prefect", "starlette", "uvicorn", "jsonpatch", "prometheus-client"} <= set(
        found["declared"]
    )
