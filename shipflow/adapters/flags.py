"""Where a feature flag's flagd definition lives: a file (flagd ``--uri file:``) or a
ConfigMap key (a flagd sidecar, or the OpenFeature operator, mounts it). Another flag service
plugs in as another :class:`FlagStore`: read the definition, write it back."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

from kubernetes import client as k8s

from shipflow.adapters.kubernetes.services import ConfigMaps


class FlagStore(Protocol):
    def read(self) -> str | None:
        """The definition's text, None when there is none yet."""
        ...

    def write(self, text: str) -> None:
        """Replace the definition (readers see the old or the new one, never half)."""
        ...

    def describe(self) -> str: ...


class FileFlagStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def read(self) -> str | None:
        try:
            return self.path.read_text()
        except FileNotFoundError:
            return None

    def write(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, self.path)  # flagd watches the file: never show it half-written

    def describe(self) -> str:
        return f"file {self.path}"


class ConfigMapFlagStore:
    def __init__(self, api: k8s.ApiClient, namespace: str, name: str, key: str) -> None:
        self.maps = ConfigMaps(api, namespace)
        self.namespace, self.name, self.key = namespace, name, key

    def read(self) -> str | None:
        return self.maps.read(self.name, self.key)

    def write(self, text: str) -> None:
        self.maps.write(self.name, self.key, text)

    def describe(self) -> str:
        return f"ConfigMap {self.namespace}/{self.name} key {self.key}"
