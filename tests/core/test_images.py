"""Image tag policy and secret scan rules, as tables."""

from __future__ import annotations

import pytest

from shipflow.core.images import Layer, final_base, plan_tags, scan_image
from shipflow.errors import PolicyViolation

SHA = "3f2a9c1d4b5e6f708192a3b4c5d6e7f809a1b2c3"


@pytest.mark.parametrize(
    ("kwargs", "tags"),
    [
        ({"environment": "production"}, [SHA]),
        ({"environment": "production", "semver": "1.4.2"}, [SHA, "1.4.2"]),
        ({"environment": "staging", "extra": ["latest"]}, [SHA, "latest"]),
        ({"environment": "production", "extra": ["web-2026-11-26"]}, [SHA, "web-2026-11-26"]),
    ],
)
def test_tags(kwargs: dict, tags: list[str]) -> None:
    assert plan_tags(SHA, **kwargs) == tags


@pytest.mark.parametrize(
    ("sha", "kwargs", "words"),
    [
        (SHA, {"environment": "production", "extra": ["latest"]}, "'latest' is mutable"),
        (SHA, {"environment": "prod", "extra": ["main"]}, "'main' is mutable"),
        ("main", {"environment": "dev"}, "is not a git commit sha"),
        (SHA, {"environment": "dev", "semver": "1.4"}, "is not a semantic version"),
        (SHA, {"environment": "dev", "extra": ["bad tag!"]}, "is not a valid image tag"),
    ],
)
def test_refused_tags(sha: str, kwargs: dict, words: str) -> None:
    with pytest.raises(PolicyViolation, match=words):
        plan_tags(sha, **kwargs)


AWS = "AKIAIOSFODNN7EXAMPLE"


@pytest.mark.parametrize(
    ("config", "layers", "found"),
    [
        ({"Env": ["PATH=/bin", "APP_MODE=prod"]}, [], []),
        (
            {"Env": ["AWS_SECRET_ACCESS_KEY=abc123"]},
            [],
            [("secret-env", "config", "ENV AWS_SECRET_ACCESS_KEY")],
        ),
        ({"Env": [f"SOME_ID={AWS}"]}, [], [("aws-access-key-id", "config", "ENV SOME_ID")]),
        ({"Env": ["DB_PASSWORD_FILE=/run/secrets/db"]}, [], []),  # a path to a secret is fine
        ({"Env": ["API_TOKEN="]}, [], []),  # empty
        (
            {},
            [Layer(index=2, created_by="|1 NPM_TOKEN=abc /bin/sh -c npm ci")],
            [("secret-build-arg", "layer 2", "ARG NPM_TOKEN")],
        ),
        (
            {},
            [Layer(index=1, files=("home/app/.ssh/id_ed25519", "app/main.py"))],
            [("ssh-private-key-file", "layer 1", "file /home/app/.ssh/id_ed25519")],
        ),
        (
            {"Labels": {"k": "-----BEGIN OPENSSH PRIVATE KEY-----"}},
            [],
            [("private-key", "config", "LABEL k")],
        ),
    ],
)
def test_scan(config: dict, layers: list[Layer], found: list[tuple[str, str, str]]) -> None:
    assert [(f.rule, f.layer, f.where) for f in scan_image(config, layers)] == found


def test_base_image_files_are_not_blamed_on_this_build() -> None:
    layers = [
        Layer(index=0, files=("etc/ssl/private/snakeoil.key",)),
        Layer(index=1, files=("app/server.pem",)),
    ]
    found = scan_image({}, layers, scan_files_from=1)
    assert [(f.layer, f.where) for f in found] == [("layer 1", "file /app/server.pem")]


def test_findings_never_carry_the_value() -> None:
    found = scan_image({"Env": [f"AWS_ACCESS_KEY_ID={AWS}"]}, [])
    assert found
    assert all(AWS not in str(f) for f in found)


@pytest.mark.parametrize(
    ("dockerfile", "base"),
    [
        ("FROM node:22-alpine AS deps\nFROM deps AS build\nFROM build\n", "node:22-alpine"),
        (
            "FROM golang:1.23 AS build\nFROM gcr.io/distroless/static:nonroot\n",
            "gcr.io/distroless/static:nonroot",
        ),
        ("FROM --platform=linux/amd64 python:3.12-slim\n", "python:3.12-slim"),
        ("FROM golang:1.23 AS build\nFROM scratch\n", None),
    ],
)
def test_final_base(dockerfile: str, base: str | None) -> None:
    assert final_base(dockerfile) == base
