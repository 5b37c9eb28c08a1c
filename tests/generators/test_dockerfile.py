"""`shipflow dockerfile`: golden output per stack, hadolint-clean, written all-or-nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipflow.errors import ConfigError
from shipflow.generators.dockerfile import detect, render
from shipflow.generators.files import write_files

GOLDEN = Path(__file__).parent / "golden"
PROJECTS = {
    "node": {
        "package.json": json.dumps({"name": "shop", "main": "index.js"}),
        "package-lock.json": "{}",
    },
    "python": {"requirements.txt": "flask==3.0.3\n"},
    "go": {"go.mod": "module example.com/shop\n\ngo 1.23\n", "go.sum": ""},
    "java": {"pom.xml": "<project/>\n"},
}


@pytest.mark.parametrize("stack", sorted(PROJECTS))
def test_output_matches_golden_and_passes_hadolint(stack: str, tmp_path: Path) -> None:
    spec = detect(PROJECTS[stack])
    assert spec.stack == stack
    files = render(spec)
    golden = GOLDEN / stack
    if os.environ.get("UPDATE_GOLDEN"):
        write_files(files, golden, force=True)
    for name, content in files.items():
        assert (golden / name).read_text() == content, f"{stack}/{name} differs from golden"
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(files[Path("Dockerfile")])
    hadolint = Path(sys.executable).with_name("hadolint")
    lint = subprocess.run(
        [hadolint, "--failure-threshold", "style", str(dockerfile)], capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout
    text = files[Path("Dockerfile")]
    assert ":latest" not in text
    assert "HEALTHCHECK" in text
    assert text.count("FROM ") >= 2  # multi-stage
    assert "USER 0" not in text


def test_dependency_manifests_are_copied_before_sources() -> None:
    text = render(detect(PROJECTS["node"]))[Path("Dockerfile")]
    assert text.index("COPY package.json package-lock.json") < text.index(
        "COPY --chown=1000:1000 . ."
    )


def test_unknown_project_says_what_it_looks_for() -> None:
    with pytest.raises(ConfigError, match=r"package\.json \(node\).*go\.mod \(go\)"):
        detect({"README.md": "hi"})


def test_existing_files_are_not_overwritten_and_nothing_is_half_written(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("mine\n")
    files = render(detect(PROJECTS["go"]))
    with pytest.raises(ConfigError, match="exists; use --force"):
        write_files(files, tmp_path)
    assert not (tmp_path / "Dockerfile").exists()  # the other file was not written either
    assert (tmp_path / ".dockerignore").read_text() == "mine\n"
    written = write_files(files, tmp_path, force=True)
    assert {p.name for p in written} == {"Dockerfile", ".dockerignore"}


def test_paths_outside_the_target_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="outside the target"):
        write_files({Path("../escape.txt"): "x"}, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_cli_writes_and_reports_json(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text(PROJECTS["go"]["go.mod"])
    cli = Path(sys.executable).with_name("shipflow")
    done = subprocess.run(
        [cli, "dockerfile", str(tmp_path), "--json"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stack"] == "go"
    again = subprocess.run([cli, "dockerfile", str(tmp_path)], capture_output=True, text=True)
    assert again.returncode == 64  # a usage mistake: nothing was written
    assert "exists; use --force" in again.stderr


def test_generated_node_dockerfile_builds_end_to_end(node_image: str, tmp_path: Path) -> None:
    """The node Dockerfile, with the pinned public images swapped for a toolchain image made
    here, builds with buildah: npm ci runs, the runtime stage is non-root with a health check."""
    from shipflow.adapters.images import Buildah

    (tmp_path / "package.json").write_text(PROJECTS["node"]["package.json"])
    (tmp_path / "package-lock.json").write_text(
        json.dumps(
            {
                "name": "shop",
                "lockfileVersion": 3,
                "requires": True,
                "packages": {"": {"name": "shop"}},
            }
        )
    )
    (tmp_path / "index.js").write_text(
        'require("http").createServer((q, r) => r.end("ok")).listen(3000)\n'
    )
    manifests = {n: (tmp_path / n).read_text() for n in ("package.json", "package-lock.json")}
    spec = detect(manifests).model_copy(
        update={"builder_image": node_image, "runtime_image": node_image}
    )
    write_files(render(spec), tmp_path)
    builder = Buildah(storage_driver="vfs")
    builder.build(tmp_path, "localhost/generated-node:test")
    inspection = builder.inspect("localhost/generated-node:test", node_image)
    assert inspection.config["User"] == "1000:1000"
    files = {f for layer in inspection.layers[inspection.base_layers :] for f in layer.files}
    assert "app/index.js" in files
    assert not any(".env" in f or f.endswith(".pem") for f in files)
    raw = subprocess.run(
        [
            "buildah",
            "--storage-driver",
            "vfs",
            "inspect",
            "--type",
            "image",
            "localhost/generated-node:test",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(raw.stdout)["Docker"]["config"]["Healthcheck"]["Test"][0] == "CMD"
