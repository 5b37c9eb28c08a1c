"""Attribute paths: Terraform's notation, sets without positions, a stop at sensitive values."""

from __future__ import annotations

from typing import Any

import pytest

from shipflow.core.plan_paths import LEAF, Shape, changed_paths, path_of

TAGS = Shape("map", element=LEAF)
RULE = Shape("object", attributes={"port": LEAF, "cidr": Shape("list", element=LEAF)})
RESOURCE = Shape(
    "object",
    attributes={
        "tags": TAGS,
        "rule": Shape("list", element=RULE),
        "ingress": Shape("set", element=RULE),
        "config": Shape("object", attributes={"size": LEAF}),
        "password": LEAF,
    },
)


@pytest.mark.parametrize(
    ("before", "after", "kwargs", "paths"),
    [
        ({"a": 1}, {"a": 1}, {}, []),
        ({"a": 1}, {"a": 2}, {}, ["a"]),
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}}, {}, ["a.c"]),
        ({"l": [1, 2]}, {"l": [1, 3]}, {}, ["l[1]"]),
        ({"l": [1, 2]}, {"l": [1]}, {}, ["l"]),
        ({}, {"new": "x"}, {}, ["new"]),
        ("x", "y", {}, ["(value)"]),
        # without a shape: a key that is no identifier is a map key
        (
            {"tags": {"k8s.io/role": "a"}},
            {"tags": {"k8s.io/role": "b"}},
            {},
            ['tags["k8s.io/role"]'],
        ),
        # with a shape: map keys always as map keys, objects as attributes
        ({"tags": {"Name": "a"}}, {"tags": {"Name": "b"}}, {"shape": RESOURCE}, ['tags["Name"]']),
        ({"config": {"size": 1}}, {"config": {"size": 2}}, {"shape": RESOURCE}, ["config.size"]),
        (
            {"rule": [{"port": 80, "cidr": ["a"]}, {"port": 443, "cidr": ["b"]}]},
            {"rule": [{"port": 80, "cidr": ["a"]}, {"port": 8443, "cidr": ["b"]}]},
            {"shape": RESOURCE},
            ["rule[1].port"],
        ),
        # a set: the changed element is named as an element, never by its position
        (
            {"ingress": [{"port": 80, "cidr": ["a"]}, {"port": 443, "cidr": ["b"]}]},
            {"ingress": [{"port": 443, "cidr": ["b"]}, {"port": 80, "cidr": ["c"]}]},
            {"shape": RESOURCE},
            ["ingress[*]"],
        ),
        (  # the same set in another order is no change
            {"ingress": [{"port": 80, "cidr": ["a"]}, {"port": 443, "cidr": ["b"]}]},
            {"ingress": [{"port": 443, "cidr": ["b"]}, {"port": 80, "cidr": ["a"]}]},
            {"shape": RESOURCE},
            [],
        ),
        # a sensitive map: one path, no key below it
        (
            {"tags": {"secret-name": "a", "owner": "x"}},
            {"tags": {"secret-name": "b", "owner": "x"}},
            {
                "before_sensitive": {"tags": True},
                "after_sensitive": {"tags": True},
                "shape": RESOURCE,
            },
            ["tags"],
        ),
        # a map with one sensitive element: the key is Terraform's to show, the value is not
        (
            {"tags": {"token": "a", "env": "x"}},
            {"tags": {"token": "b", "env": "x"}},
            {"after_sensitive": {"tags": {"token": True}}, "shape": RESOURCE},
            ['tags["token"]'],
        ),
        # becoming sensitive is a change, even with the same value
        (
            {"password": "p"},
            {"password": "p"},
            {"after_sensitive": {"password": True}},
            ["password"],
        ),
        # unknown until apply, at any depth
        (
            {"config": {"size": 1}},
            {"config": {}},
            {"after_unknown": {"config": {"size": True}}},
            ["config.size"],
        ),
        (
            {"rule": [{"port": 1}]},
            {"rule": [{}]},
            {"after_unknown": {"rule": [{"port": True}]}},
            ["rule[0].port"],
        ),
    ],
)
def test_changed_paths(before: Any, after: Any, kwargs: dict[str, Any], paths: list[str]) -> None:
    assert changed_paths(before, after, **kwargs) == paths


@pytest.mark.parametrize(
    ("steps", "kwargs", "path"),
    [
        (["rule", 0, "port"], {"shape": RESOURCE}, "rule[0].port"),
        (["ingress", 1, "port"], {"shape": RESOURCE}, "ingress[*]"),
        (["tags", "Name"], {"shape": RESOURCE}, 'tags["Name"]'),
        (["tags", "secret-name"], {"after_sensitive": {"tags": True}}, "tags"),
        (["triggers_replace"], {}, "triggers_replace"),
    ],
)
def test_replace_paths(steps: list[Any], kwargs: dict[str, Any], path: str) -> None:
    assert path_of(steps, **kwargs) == path
