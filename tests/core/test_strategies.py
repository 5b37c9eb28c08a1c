"""Strategy policies, version labels and the flagd ramp: tables of inputs and outcomes."""

from __future__ import annotations

import pytest

from shipflow.core.flags import FlagLocation, flag_fraction, set_fraction
from shipflow.core.repo_config import parse_repo_config
from shipflow.core.strategies import BlueGreenPolicy, FeatureFlagPolicy, RollingPolicy, version_for
from shipflow.errors import ConfigError

SERVICE = '[services.web]\nimage = { context = "a", repository = "b" }\n'


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("registry.local/web@sha256:" + "ab" * 32, "sha256-abababababab"),
        ("registry.local/web:1.2.3", "1.2.3"),
        ("registry.local:5000/shop/web:v2+build.7", "v2-build.7"),
        ("registry.local:5000/shop/web", "latest"),
        ("web:" + "x" * 100, "x" * 63),
        ("web:_odd_", "odd"),
    ],
)
def test_version_labels_name_the_image(image: str, version: str) -> None:
    assert version_for(image) == version


@pytest.mark.parametrize(
    ("strategy", "policy", "kind"),
    [
        ("canary", "check_interval_seconds = 10", "CanaryPolicy"),
        ("blue-green", "post_promotion_seconds = 60", "BlueGreenPolicy"),
        ("rolling", 'max_surge = "50%"', "RollingPolicy"),
        ("rolling", "max_surge = 2", "RollingPolicy"),
    ],
)
def test_the_policy_block_is_read_as_the_strategys_policy(
    strategy: str, policy: str, kind: str
) -> None:
    text = SERVICE + f'strategy = "{strategy}"\npolicy = {{ {policy} }}\n'
    service = parse_repo_config(text).services["web"]
    assert type(service.policy).__name__ == kind


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        (
            'strategy = "rolling"\npolicy = { max_surge = "lots" }\n',
            "services.web.policy.max_surge",
            "not a count or a percentage",
        ),
        (
            'strategy = "rolling"\npolicy = { max_surge = "150%" }\n',
            "services.web.policy.max_surge",
            "not a count or a percentage",
        ),
        # a field of another strategy's policy is named, not ignored
        (
            'strategy = "rolling"\npolicy = { steps = [] }\n',
            "services.web.policy.steps",
            "Extra inputs are not permitted",
        ),
        (
            'strategy = "blue-green"\npolicy = { post_promotion_seconds = -1 }\n',
            "services.web.policy.post_promotion_seconds",
            "greater than or equal to 0",
        ),
        ('strategy = "blue-ish"\n', "services.web.strategy", "'blue-green'"),
        ('strategy = "feature-flag"\n', "services.web", "needs flags"),
        (
            'strategy = "feature-flag"\nflags = { file = "a", config_map = "b" }\n',
            "services.web.flags",
            "exactly one of config_map and file",
        ),
        ("slo = { objective = 99.9 }\n", "services.web.slo.objective", "less than 1"),
    ],
)
def test_bad_strategy_fields_are_named(extra: str, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_repo_config(SERVICE + extra)
    assert err.value.field == field
    assert words in str(err.value)


def test_a_feature_flag_service_with_an_slo() -> None:
    text = (
        SERVICE + 'strategy = "feature-flag"\nflags = { config_map = "flags" }\n'
        'policy = { flag = "checkout-v2" }\nslo = { objective = 0.995 }\n'
    )
    service = parse_repo_config(text).services["web"]
    assert isinstance(service.policy, FeatureFlagPolicy)
    assert service.policy.flag == "checkout-v2"
    assert service.flags == FlagLocation(config_map="flags")
    assert service.slo is not None
    assert service.slo.objective == 0.995


def test_rolling_refuses_a_surge_that_never_progresses() -> None:
    with pytest.raises(ValueError, match="cannot both be 0"):
        RollingPolicy(max_surge=0, max_unavailable="0%").surge_pair()
    assert BlueGreenPolicy().post_promotion_seconds == 300


@pytest.mark.parametrize(
    ("percent", "default", "targeting"),
    [
        (0, "off", None),
        (5, "off", {"fractional": [["on", 5], ["off", 95]]}),
        (50, "off", {"fractional": [["on", 50], ["off", 50]]}),
        (100, "on", None),
    ],
)
def test_the_flag_follows_the_percentage(
    percent: int, default: str, targeting: dict | None
) -> None:
    definition = set_fraction(None, "checkout", on="on", off="off", percent=percent)
    flag = definition["flags"]["checkout"]
    assert flag["defaultVariant"] == default
    assert flag.get("targeting") == targeting
    assert flag["variants"] == {"on": True, "off": False}
    assert flag_fraction(definition, "checkout", "on") == percent


def test_other_flags_and_variant_values_are_kept() -> None:
    before = {
        "$schema": "https://flagd.dev/schema/v0/flags.json",
        "flags": {
            "other": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a"},
            "checkout": {
                "state": "DISABLED",
                "variants": {"on": "v2", "off": "v1"},
                "defaultVariant": "off",
                "metadata": {"owner": "payments"},
            },
        },
    }
    after = set_fraction(before, "checkout", on="on", off="off", percent=25)
    assert after["flags"]["other"] == before["flags"]["other"]
    assert after["flags"]["checkout"]["variants"] == {"on": "v2", "off": "v1"}
    assert after["flags"]["checkout"]["metadata"] == {"owner": "payments"}
    assert after["flags"]["checkout"]["state"] == "ENABLED"
    assert before["flags"]["checkout"]["state"] == "DISABLED"  # the input is not changed
    assert flag_fraction(before, "checkout", "on") == 0
    assert flag_fraction(after, "missing", "on") == 0


def test_percentages_outside_0_to_100_are_refused() -> None:
    with pytest.raises(ConfigError, match="weight"):
        set_fraction(None, "f", on="on", off="off", percent=101)
