"""Which of the worker's environment variables Terraform may see.

Everything outside Terraform's own ``TF_*`` namespace passes (provider credentials, ``PATH``,
proxies, CA bundles), except Prefect's own settings, which Terraform has no use for. Of
``TF_*``, only variables that cannot change what is planned or applied, or how it is reported,
pass: inputs (``TF_VAR_*``), registry credentials (``TF_TOKEN_*``), the CLI configuration and
the plugin cache. Everything else under ``TF_*`` is dropped and named, so that the caller can
say so once: ``TF_CLI_ARGS_plan=-destroy`` on a worker would turn a release into a destroy,
``TF_WORKSPACE`` would plan another workspace's state, ``TF_LOG`` would pour debug output
(values included) into the error text. A team that really wants one of them lists its name in
``SHIPFLOW_TERRAFORM_PASS_ENV``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# Exact names and prefixes under TF_* that never change a plan, an apply or their output.
SAFE_TF_NAMES = frozenset(
    {
        "TF_CLI_CONFIG_FILE",
        "TF_PLUGIN_CACHE_DIR",
        "TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE",
        "TF_REGISTRY_DISCOVERY_RETRY",
        "TF_REGISTRY_CLIENT_TIMEOUT",
        "TF_APPEND_USER_AGENT",
        "TF_IN_AUTOMATION",
        "TF_INPUT",
        "TF_ENCRYPTION",  # OpenTofu: the key to read an encrypted state
    }
)
SAFE_TF_PREFIXES = ("TF_VAR_", "TF_TOKEN_")
SILENTLY_DROPPED_PREFIXES = ("PREFECT_",)


def terraform_environment(
    worker_env: Mapping[str, str], pass_env: Iterable[str] = ()
) -> tuple[dict[str, str], tuple[str, ...]]:
    """The environment Terraform runs with, and the ``TF_*`` names dropped from it (sorted).

    ``pass_env`` names variables to pass although they are not known to be safe.
    """
    allowed = {name.strip() for name in pass_env if name.strip()}
    kept: dict[str, str] = {}
    dropped: list[str] = []
    for name, value in worker_env.items():
        if name in allowed:
            kept[name] = value
        elif name.startswith(SILENTLY_DROPPED_PREFIXES):
            continue
        elif (
            not name.startswith("TF_") or name in SAFE_TF_NAMES or name.startswith(SAFE_TF_PREFIXES)
        ):
            kept[name] = value
        else:
            dropped.append(name)
    return kept, tuple(sorted(dropped))


def _safe(name: str) -> bool:
    return name in SAFE_TF_NAMES or name.startswith(SAFE_TF_PREFIXES)


def parse_pass_env(text: str | None) -> tuple[str, ...]:
    """``SHIPFLOW_TERRAFORM_PASS_ENV``: names separated by commas or spaces."""
    return tuple(n for n in (text or "").replace(",", " ").split() if n)
