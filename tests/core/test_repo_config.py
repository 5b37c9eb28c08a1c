"""shipflow.toml: valid configs parse, every bad field is named."""

from __future__ import annotations

import pytest

from shipflow.core.repo_config import parse_repo_config
from shipflow.errors import ConfigError

GOOD = """
[services.web]
image = { context = "services/web", repository = "registry.example.com/shop/web" }
stack = "infra/web"
namespace = "shop"
paths = ["services/web/", "infra/web/"]
policy = { check_interval_seconds = 10, max_error_rate = 0.02 }

[services.worker]
image = { context = "services/worker", repository = "registry.example.com/shop/worker" }
"""


def test_a_good_config() -> None:
    config = parse_repo_config(GOOD)
    web = config.services["web"]
    assert web.stack == "infra/web"
    assert web.strategy == "canary"
    assert web.router.kind == "gateway"
    assert web.policy.check_interval_seconds == 10
    assert [s.weight for s in web.policy.steps] == [5, 25, 50]
    assert config.affected(["services/web/app.py"]) == ["web", "worker"]
    assert config.affected(["docs/readme.md"]) == ["worker"]
    assert config.affected(None) == ["web", "worker"]


@pytest.mark.parametrize(
    ("changed", "services", "reason"),
    [
        (None, ("web", "worker"), "paths unknown: releasing all services"),
        # A merge always changes something: no paths means the forge did not say.
        ([], ("web", "worker"), "paths unknown: releasing all services"),
        (["services/web/app.py"], ("web", "worker"), "2 of 2 services touched by 1 changed"),
        (["docs/readme.md", "README"], ("worker",), "1 of 2 services touched by 2 changed"),
    ],
)
def test_which_services_a_merge_releases_and_why(
    changed: list[str] | None, services: tuple[str, ...], reason: str
) -> None:
    selection = parse_repo_config(GOOD).select(changed)
    assert selection.services == services
    assert selection.reason.startswith(reason)


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("[services.web\n", "shipflow.toml", "not valid TOML"),
        ("title = 'x'\n", "services", "declares no"),
        ('[services.web]\nstack = "x"\n', "services.web.image", "Field required"),
        (
            '[services.web]\nimage = { context = "a", repository = "b" }\nstrategy = "yolo"\n',
            "services.web.strategy",
            "'canary'",
        ),
        (
            '[services.web]\nimage = { context = "a", repository = "b" }\n'
            'router = { kind = "f5" }\n',
            "services.web.router.kind",
            "'gateway'",
        ),
        (
            '[services.web]\nimage = { context = "a", repository = "b", tag = "latest" }\n',
            "services.web.image.tag",
            "Extra inputs are not permitted",
        ),
        (
            '[services.web]\nimage = { context = "a", repository = "b" }\n'
            "policy = { steps = [{ weight = 50, hold_seconds = 1 },"
            " { weight = 5, hold_seconds = 1 }] }\n",
            "services.web.policy.steps",
            "weights must rise",
        ),
        (
            '[services.web]\nimage = { context = "../../etc", repository = "b" }\n',
            "services.web.image.context",
            "relative path inside the repository",
        ),
        (
            '[services.web]\nimage = { context = "a", repository = "b" }\nstack = "/srv/infra"\n',
            "services.web.stack",
            "relative path inside the repository",
        ),
        (
            '[services.web]\nimage = { context = "a", repository = "b", '
            'dockerfile = "../Dockerfile" }\n',
            "services.web.image.dockerfile",
            "without '..'",
        ),
        (
            '[services.web]\nimage = { context = "a", repository = "b" }\n'
            'strategy = "rolling"\ntarget = "local"\n',
            "services.web",
            'target "local" runs the canary strategy only',
        ),
    ],
)
def test_bad_fields_are_named(text: str, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_repo_config(text)
    assert err.value.field == field
    assert words in str(err.value)
