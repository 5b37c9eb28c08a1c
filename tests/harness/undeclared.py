"""Which modules an installed distribution imports without declaring where they come from.

Run by the Python of a venv that has the distribution installed (standard library only, so it
adds nothing to that venv): ``python -I undeclared.py shipflow``. It reads every ``.py`` file
the distribution installed, collects the top-level names of its absolute imports (also those
inside functions; not those under ``if TYPE_CHECKING:``, which never run), leaves out the
standard library and the distribution's own packages, and maps each name to the distributions
that provide it in that venv. It prints JSON:

- ``undeclared``: module → files, for modules whose providers are all missing from the
  distribution's base requirements (installed only because something else pulled them in);
- ``missing``: module → files, for modules that nothing in the venv provides;
- ``declared``: the base requirements, for the report.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from importlib import metadata
from pathlib import Path


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Imports(ast.NodeVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        if _type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.names.update(alias.name.split(".")[0] for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self.names.add(node.module.split(".")[0])


def scan(distribution: str) -> dict[str, object]:
    dist = metadata.distribution(distribution)
    declared = {
        canonical(match.group(0))
        for requirement in dist.requires or []
        if "extra" not in requirement.partition(";")[2]  # an extra's, not the base's
        and (match := re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement))
    }
    sources = [Path(str(dist.locate_file(f))) for f in dist.files or [] if str(f).endswith(".py")]
    own = {str(f).split("/")[0] for f in dist.files or [] if str(f).endswith(".py")}
    providers = metadata.packages_distributions()
    users: dict[str, set[str]] = {}
    for source in sources:
        visitor = _Imports()
        visitor.visit(ast.parse(source.read_text(), str(source)))
        for name in visitor.names:
            if name in sys.stdlib_module_names or name in own or name == "__future__":
                continue
            users.setdefault(name, set()).add(source.name)
    undeclared: dict[str, list[str]] = {}
    missing: dict[str, list[str]] = {}
    for name, files in sorted(users.items()):
        dists = {canonical(d) for d in providers.get(name, [])}
        if not dists:
            missing[name] = sorted(files)
        elif not dists & declared:
            undeclared[name] = sorted(files)
    return {"undeclared": undeclared, "missing": missing, "declared": sorted(declared)}


if __name__ == "__main__":
    print(json.dumps(scan(sys.argv[1]), indent=2))
