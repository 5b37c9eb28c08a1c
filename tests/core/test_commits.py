from __future__ import annotations

import pytest

from shipflow.core.commits import display_url, parse_clone_url, parse_sha
from shipflow.errors import ConfigError

SHA1 = "9c1d4b5e6f708192a3b4c5d6e7f809a1b2c3d4e5"


@pytest.mark.parametrize(
    ("sha", "expected"),
    [
        (SHA1, SHA1),
        (SHA1.upper(), SHA1),
        (f" {SHA1}\n", SHA1),
        ("a" * 64, "a" * 64),
        ("main", None),
        ("HEAD~1", None),
        (SHA1[:12], None),
        (SHA1 + "0", None),
        ("g" * 40, None),
        ("", None),
    ],
)
def test_parse_sha(sha: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ConfigError, match=r"^sha: "):
            parse_sha(sha)
    else:
        assert parse_sha(sha) == expected


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://github.com/shop/web.git", True),
        ("http://git.internal/shop/web", True),
        ("ssh://git@github.com/shop/web.git", True),
        ("git://127.0.0.1:9418/shop.git", True),
        ("file:///srv/git/shop.git", True),
        ("git@github.com:shop/web.git", True),
        ("github.com:shop/web.git", True),
        ("/srv/git/shop.git", True),
        ("", False),
        ("-uhttps://x", False),
        ("--upload-pack=touch /tmp/pwned", False),
        ("ext::sh -c touch% /tmp/pwned", False),
        ("fd::17", False),
        ("ftp://host/repo.git", False),
        ("https://host/repo .git", False),
        ("https://host/repo\n.git", False),
        ("relative/path", False),
    ],
)
def test_parse_clone_url(url: str, ok: bool) -> None:
    if ok:
        assert parse_clone_url(url) == url
    else:
        with pytest.raises(ConfigError, match=r"^clone_url: "):
            parse_clone_url(url)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://x-access-token:ghp_abc@github.com/a/b.git", "https://***@github.com/a/b.git"),
        ("https://oauth2@gitlab.com/a/b.git", "https://***@gitlab.com/a/b.git"),
        ("https://github.com/a/b.git", "https://github.com/a/b.git"),
        ("git@github.com:a/b.git", "git@github.com:a/b.git"),
    ],
)
def test_display_url_hides_credentials(url: str, shown: str) -> None:
    assert display_url(url) == shown


def test_a_refused_url_is_named_without_its_credentials() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_clone_url("ftp://user:hunter22@host/repo.git")
    assert "hunter22" not in str(caught.value)
