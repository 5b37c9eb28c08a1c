"""Make the `shipflow/localfile` provider available to Terraform through ``dev_overrides``."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def install(directory: Path) -> Path:
    """Write the provider's executable and a CLI config that points Terraform at it.

    Returns the CLI config file (for TF_CLI_CONFIG_FILE). Nothing may reach stdout before the
    plugin handshake, so the wrapper only sets the path and execs Python.
    """
    providers = directory / "providers"
    providers.mkdir(parents=True, exist_ok=True)
    wrapper = providers / "terraform-provider-localfile"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"export PYTHONPATH={ROOT}\n"
        f"exec {sys.executable} -c 'from tests.harness.tfprovider import main; main()' \"$@\"\n"
    )
    wrapper.chmod(0o755)
    config = directory / "terraformrc"
    config.write_text(
        "provider_installation {\n"
        "  dev_overrides {\n"
        f'    "shipflow/localfile" = "{providers}"\n'
        "  }\n"
        "  direct {}\n"
        "}\n"
    )
    return config


PROVIDER_BLOCK = """\
terraform {
  required_providers {
    localfile = { source = "shipflow/localfile" }
  }
}
"""
