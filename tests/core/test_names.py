from __future__ import annotations

import pytest

from shipflow.core.names import slug


@pytest.mark.parametrize(
    ("text", "sep", "expected"),
    [
        ("infra/web", "-", "infra-web"),
        ("Shop Web", "-", "shop-web"),
        ("--a__b--", "-", "a-b"),
        ("my-service", "_", "my_service"),
        ("ÄÖ", "-", "x"),
        ("", "-", "x"),
    ],
)
def test_slug(text: str, sep: str, expected: str) -> None:
    assert slug(text, sep=sep) == expected
