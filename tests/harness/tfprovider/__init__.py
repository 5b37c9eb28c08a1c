"""``shipflow/localfile``: a tiny Terraform provider, written with the `tf` framework, whose
resource is a file on disk. Its read returns the file's *current* content, so an edit made
outside Terraform is real drift, found by Terraform's own refresh.

Resource ``localfile_file``: ``path`` (forces replacement), ``content``, ``tags`` (a map),
``sensitive_token`` (optional, sensitive), computed ``id``. The file holds JSON with content,
tags and token; deleting the file means the object is gone. ``import`` takes the file's path
as its id.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tf import schema, types
from tf.iface import (
    Config,
    CreateContext,
    DeleteContext,
    ImportContext,
    ReadContext,
    State,
    UpdateContext,
)
from tf.provider import DataSource, Diagnostics, Provider, Resource
from tf.runner import run_provider


class LocalFileProvider(Provider):
    def __init__(self) -> None:
        pass

    def full_name(self) -> str:
        return "registry.terraform.io/shipflow/localfile"

    def get_model_prefix(self) -> str:
        return "localfile_"

    def get_provider_schema(self, diags: Diagnostics) -> schema.Schema:
        return schema.Schema(version=1, attributes=[])

    def validate_config(self, diags: Diagnostics, config: Config) -> None:
        pass

    def configure_provider(self, diags: Diagnostics, config: Config) -> None:
        pass

    def get_data_sources(self) -> list[type[DataSource]]:
        return []

    def get_resources(self) -> list[type[Resource]]:
        return [FileResource]


class FileResource(Resource):
    @classmethod
    def get_name(cls) -> str:
        return "file"

    @classmethod
    def get_schema(cls) -> schema.Schema:
        return schema.Schema(
            version=1,
            attributes=[
                schema.Attribute("id", types.String(), computed=True),
                schema.Attribute("path", types.String(), required=True, requires_replace=True),
                schema.Attribute("content", types.String(), required=True),
                schema.Attribute("tags", types.Map(types.String()), optional=True),
                schema.Attribute("sensitive_token", types.String(), optional=True, sensitive=True),
            ],
        )

    def __init__(self, provider: LocalFileProvider) -> None:
        self.provider = provider

    def _write(self, state: State) -> State:
        body = {
            "content": state["content"],
            "tags": state.get("tags"),
            "sensitive_token": state.get("sensitive_token"),
        }
        Path(state["path"]).write_text(json.dumps(body, sort_keys=True))
        state = dict(state)
        state["id"] = state["path"]
        return state

    def create(self, ctx: CreateContext, planned: State) -> State:
        return self._write(planned)

    def read(self, ctx: ReadContext, current: State) -> State | None:
        path = Path(current["path"])
        if not path.exists():
            return None
        body: dict[str, Any] = json.loads(path.read_text())
        state = dict(current)
        state.update(
            content=body.get("content"),
            tags=body.get("tags"),
            sensitive_token=body.get("sensitive_token"),
        )
        return state

    def import_(self, ctx: ImportContext, id: str) -> State | None:
        """Import the file at path ``id`` (an `import` block's ``id``)."""
        empty = {"id": id, "path": id, "content": None, "tags": None, "sensitive_token": None}
        return self.read(ctx, empty)  # type: ignore[arg-type]

    def update(self, ctx: UpdateContext, current: State, planned: State) -> State:
        return self._write(planned)

    def delete(self, ctx: DeleteContext, current: State) -> None:
        Path(current["path"]).unlink(missing_ok=True)


def main() -> None:
    run_provider(LocalFileProvider())
