"""`shipflow monitor` on the command line: the files from an app spec or flags, all or nothing,
bad input is one line and exit 64 with nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

SHIPFLOW = str(Path(sys.executable).with_name("shipflow"))

APP_SPEC = """\
# the app spec shipflow plan reads too: monitor takes name, slo, metrics, saturation
name: shop
image: registry.example.com/shop:1.4.2
port: 8080
replicas: 3
slo:
  availability: 99.5
  latency_ms: 250
metrics:
  version_label: track
saturation:
  queue_depth: shop_jobs_waiting
"""


def run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SHIPFLOW, "monitor", *argv], capture_output=True, text=True, timeout=60, cwd=cwd
    )


def test_writes_rules_dashboard_and_manifest_from_an_app_spec(tmp_path: Path) -> None:
    (tmp_path / "shop.yaml").write_text(APP_SPEC)
    done = run("shop.yaml", "--prometheus-rule", "--namespace", "prod", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    out = tmp_path / "monitoring"
    assert sorted(Path(w).name for w in report["written"]) == [
        "shop.dashboard.json",
        "shop.prometheusrule.yaml",
        "shop.rules.yml",
    ]
    fast = next(a for a in report["alerts"] if a["alert"] == "SLOAvailabilityFastBurn")
    assert fast["threshold"] == pytest.approx(0.072)  # 14.4 x 0.5 %
    assert report["budget_minutes"] == pytest.approx(216)
    rules = (out / "shop.rules.yml").read_text()
    assert "sum by (app, track)" in rules
    assert 'le=~"0\\\\.25"' in rules
    assert "shop_jobs_waiting" in rules
    manifest = yaml.safe_load((out / "shop.prometheusrule.yaml").read_text())
    assert manifest["metadata"]["namespace"] == "prod"


def test_flags_without_a_spec_and_flags_over_a_spec(tmp_path: Path) -> None:
    done = run("--name", "cart", "--availability", "99.99", "-o", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "SLOAvailabilityFastBurn (page): bad-request ratio > 0.00144" in done.stdout
    (tmp_path / "shop.toml").write_text('name = "shop"\n[slo]\navailability = 99.0\n')
    done = run("shop.toml", "--availability", "99.9", "--dry-run", "--json", cwd=tmp_path)
    report = json.loads(done.stdout)
    assert report["written"] == []
    assert report["alerts"][0]["threshold"] == pytest.approx(0.0144)
    assert not (tmp_path / "monitoring").exists()


def test_existing_files_are_kept_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "monitoring"
    out.mkdir()
    (out / "shop.dashboard.json").write_text("mine")
    done = run("--name", "shop", cwd=tmp_path)
    assert done.returncode == 64
    assert "shop.dashboard.json exists; use --force" in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["shop.dashboard.json"]  # nothing else
    assert (out / "shop.dashboard.json").read_text() == "mine"
    assert run("--name", "shop", "--force", cwd=tmp_path).returncode == 0
    assert (out / "shop.dashboard.json").read_text() != "mine"


@pytest.mark.parametrize(
    ("files", "argv", "message"),
    [
        ({}, ["missing.yaml"], "spec: missing.yaml is not a file"),
        ({"s.yaml": "name: [unclosed"}, ["s.yaml"], "spec: s.yaml does not parse"),
        ({"s.yaml": "- a\n- b\n"}, ["s.yaml"], "spec: s.yaml must hold a mapping"),
        ({"s.yaml": "image: x\n"}, ["s.yaml"], "name: give an app spec with a name"),
        ({}, ["--name", "shop", "--availability", "100"], "slo.availability:"),
        ({}, ["--name", "shop", "--availability", "90"], "needs more than 100 % bad requests"),
        ({"s.yaml": "name: shop\nslo: {availabilty: 99}\n"}, ["s.yaml"], "slo.availabilty:"),
        ({"s.yaml": "name: shop\nmetrics: {version_label: 1x}\n"}, ["s.yaml"], "version_label"),
        ({"out": "a file"}, ["--name", "shop", "-o", "out"], "output: out is not a directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_64(
    tmp_path: Path, files: dict[str, str], argv: list[str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    done = run(*argv, cwd=tmp_path)
    assert done.returncode == 64, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "monitoring").exists()
