"""Finding stacks on disk: any depth, by their parsed HCL."""

from __future__ import annotations

from pathlib import Path

from shipflow.adapters.stacks import find_stacks

BACKEND = 'terraform {\n  backend "s3" {\n    bucket = "b"\n    key = "k"\n  }\n}\n'


def layout(root: Path) -> None:
    files = {
        "infra/web/backend.tf": BACKEND,  # two levels deep, as in the README
        "infra/web/main.tf": 'module "net" {\n  source = "../modules/net"\n}\n',
        "infra/modules/net/main.tf": 'resource "terraform_data" "n" {}\n',  # a module
        "envs/prod/db/main.tf": 'terraform {\n  cloud {\n    organization = "acme"\n  }\n}\n',
        "envs/dev/db/terraform.tfstate": "{}",
        "envs/dev/db/main.tf": 'resource "terraform_data" "d" {}\n',
        "infra/web/.terraform/modules/x/backend.tf": BACKEND,  # Terraform's own copies
        "broken/backend.tf": 'terraform {\n  backend "s3" {\n',  # does not parse
        "docs/README.md": 'backend "s3" {',
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_stacks_are_found_at_any_depth_by_their_backend(tmp_path: Path) -> None:
    layout(tmp_path)
    found, unreadable = find_stacks(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "envs/dev/db",
        "envs/prod/db",
        "infra/web",
    ]
    assert list(unreadable) == [tmp_path / "broken"]
    assert "backend.tf" in unreadable[tmp_path / "broken"]


def test_a_glob_narrows_the_search(tmp_path: Path) -> None:
    layout(tmp_path)
    found, _ = find_stacks(tmp_path, "envs/*/db")
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["envs/dev/db", "envs/prod/db"]
    found, _ = find_stacks(tmp_path, "**/web")
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["infra/web"]
