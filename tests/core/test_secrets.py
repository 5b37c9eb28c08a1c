"""The one secret-name rule (redaction and the image scan share it) and redaction, as tables."""

from __future__ import annotations

import pytest

from shipflow.core.images import scan_image
from shipflow.core.secrets import is_secret_name, redact, secret_values


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("AWS_SECRET_ACCESS_KEY", True),
        ("AWS_ACCESS_KEY_ID", True),
        ("AWS_SESSION_TOKEN", True),
        ("GITHUB_TOKEN", True),
        ("DB_PASSWORD", True),
        ("db_password", True),
        ("dbPassword", True),
        ("PGPASSWORD", True),
        ("MYSQL_ROOT_PASSWD", True),
        ("_authToken", True),
        ("X-Api-Key", True),
        ("STRIPE_APIKEY", True),
        ("SSH_PRIVATE_KEY", True),
        ("GOOGLE_APPLICATION_CREDENTIALS", True),
        ("SECRET_KEY_BASE", True),
        ("BASIC_AUTH", True),
        ("DB_PASS", True),
        ("secret_key", True),  # an S3 backend_config key
        ("TOKENIZERS_PARALLELISM", False),  # "false" must not be masked everywhere
        ("GIT_AUTHOR_NAME", False),
        ("OS_AUTH_URL", False),
        ("AUTH_TYPE", False),
        ("SESSION_TIMEOUT", False),
        ("PASS_COUNT", False),
        ("DB_PASSWORD_FILE", False),  # where the secret is, not the secret
        ("SSH_PRIVATE_KEY_PATH", False),
        ("SECRETS_DIR", False),
        ("PASSWORD_AUTH_ENABLED", False),
        ("SIGNATURE_TOKEN_HEADER", False),
        ("PATH", False),
        ("TF_VAR_region", False),  # a name rule: TF_VAR_ is redaction's own policy, below
        ("", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


@pytest.mark.parametrize(
    ("name", "secret"), [("GITHUB_TOKEN", True), ("OS_AUTH_URL", False), ("DB_PASS", True)]
)
def test_the_image_scan_uses_the_same_rule(name: str, secret: bool) -> None:
    found = scan_image({"Env": [f"{name}=some-value-1234"]}, [])
    assert [f.rule for f in found] == (["secret-env"] if secret else [])


def test_redaction_masks_secret_names_and_every_terraform_variable() -> None:
    env = {
        "GITHUB_TOKEN": "ghp-abcdef",
        "TF_VAR_region": "eu-west-3",
        "TOKENIZERS_PARALLELISM": "false",
        "DB_PASS": "abc",  # shorter than 4: masking it would destroy every message
    }
    assert secret_values(env) == {"ghp-abcdef", "eu-west-3"}
    text = "token ghp-abcdef in eu-west-3, parallelism false"
    assert redact(text, secret_values(env)) == "token *** in ***, parallelism false"
