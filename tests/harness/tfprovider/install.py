"""Make the `shipflow/localfile` provider installable by ``terraform init``, from a
filesystem mirror (unpacked layout), as a platform team would ship an in-house provider."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def install(directory: Path) -> Path:
    """Write the provider's executable and a CLI config that points Terraform at it.

    Returns the CLI config file (for TF_CLI_CONFIG_FILE). Nothing may reach stdout before the
    plugin handshake, so the wrapper only sets the path and execs Python.
    """
    mirror = directory / "mirror"
    providers = mirror / "registry.terraform.io" / "shipflow" / "localfile" / "1.0.0" / _platform()
    providers.mkdir(parents=True, exist_ok=True)
    wrapper = providers / "terraform-provider-localfile_v1.0.0"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"export PYTHONPATH={ROOT}\n"
        f"exec {sys.executable} -c 'from tests.harness.tfprovider import main; main()' \"$@\"\n"
    )
    wrapper.chmod(0o755)
    config = directory / "terraformrc"
    config.write_text(
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{mirror}"\n'
        '    include = ["registry.terraform.io/shipflow/*"]\n'
        "  }\n"
        "  direct {\n"
        '    exclude = ["registry.terraform.io/shipflow/*"]\n'
        "  }\n"
        "}\n"
    )
    return config


def _platform() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}[machine]
    return f"{platform.system().lower()}_{arch}"


PROVIDER_BLOCK = """\
terraform {
  required_providers {
    localfile = { source = "shipflow/localfile" }
  }
}
"""
