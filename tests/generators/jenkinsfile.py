"""A structural check of declarative Jenkinsfiles (no Jenkins can run here).

What it checks: the text tokenizes as Groovy (strings of every quoting closed, comments, balanced
braces/brackets/parentheses); there is exactly one top-level ``pipeline { }``; each section and
directive appears where the declarative syntax allows it (``pipeline`` → agent, environment,
options, parameters, triggers, tools, stages, post; ``stage('name')`` → exactly one of steps,
stages, parallel, matrix, plus agent/environment/options/input/when/tools/post); ``pipeline``
has an ``agent`` and ``stages``; ``stages``/``parallel`` hold only named stages; stage names are
unique; ``matrix`` has ``axes`` (each ``axis`` with ``name`` and ``values``) and ``stages``;
``when`` holds known conditions; ``input`` has a ``message``; ``options`` holds known options;
a ``docker`` agent names an ``image``; ``steps`` is not empty.

What it does not catch: whether a step or plugin exists on the Jenkins that runs it (``cache``
from Job Cacher, ``lock`` from Lockable Resources, ``docker.image`` from Docker Pipeline,
``withCredentials``), credential IDs, agent labels, Groovy semantics inside ``script {}`` and
expressions, GString interpolation errors, the shell scripts inside ``sh``, and anything Jenkins'
own ``pipeline-model-converter/validate`` endpoint would reject at runtime beyond the above.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PIPELINE = {"agent", "environment", "options", "parameters", "triggers", "tools", "stages",
            "post", "libraries"}  # fmt: skip
STAGE = {"agent", "environment", "options", "input", "when", "tools", "post", "steps", "stages",
         "parallel", "matrix", "failFast"}  # fmt: skip
BODIES = {"steps", "stages", "parallel", "matrix"}
MATRIX = {"axes", "stages", "excludes", "agent", "environment", "options", "when", "input",
          "tools", "post"}  # fmt: skip
WHEN = {"branch", "changeset", "anyOf", "allOf", "not", "expression", "environment", "tag",
        "beforeAgent", "beforeInput", "beforeOptions", "changeRequest", "buildingTag",
        "triggeredBy", "equals"}  # fmt: skip
INPUT = {"message", "ok", "submitter", "id", "parameters", "submitterParameter"}
OPTIONS = {"timeout", "disableConcurrentBuilds", "buildDiscarder", "retry", "timestamps",
           "skipDefaultCheckout", "lock", "quietPeriod", "checkoutToSubdirectory",
           "preserveStashes", "skipStagesAfterUnstable", "newContainerPerStage",
           "parallelsAlwaysFailFast", "disableResume", "overrideIndexTriggers",
           "ansiColor"}  # fmt: skip
AGENTS = {"any", "none", "label", "docker", "dockerfile", "node", "kubernetes"}
POST = {"always", "changed", "fixed", "regression", "aborted", "failure", "success",
        "unstable", "unsuccessful", "cleanup"}  # fmt: skip


@dataclass
class Block:
    name: str
    arg: str | None
    line: int
    children: list[Block] = field(default_factory=list)
    statements: list[tuple[str, int]] = field(default_factory=list)


_TOKEN = re.compile(
    r"'''(?:\\.|(?!''').)*'''|\"\"\"(?:\\.|(?!\"\"\").)*\"\"\"|'(?:\\.|[^'\\\n])*'"
    r"|\"(?:\\.|[^\"\\\n])*\"|//[^\n]*|/\*.*?\*/|[{}()\[\]]|\n|[^\s{}()\[\]'\"/]+|/|[ \t]+",
    re.S,
)


def _tokens(text: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    line = 1
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise ValueError(
                f"line {line}: cannot tokenize {text[pos : pos + 20]!r} (unclosed string?)"
            )
        token = match.group(0)
        if (not token.startswith(("//", "/*")) and not token.isspace()) or token == "\n":
            out.append((token, line))
        line += token.count("\n")
        pos = match.end()
    return out


def _parse(tokens: list[tuple[str, int]]) -> Block:
    root = Block("<file>", None, 0)
    stack = [root]
    depth: list[str] = []
    current: list[tuple[str, int]] = []
    for token, line in tokens:
        if token in "([":
            depth.append(token)
            current.append((token, line))
        elif token in ")]":
            if not depth or {"(": ")", "[": "]"}[depth.pop()] != token:
                raise ValueError(f"line {line}: unbalanced {token!r}")
            current.append((token, line))
        elif token == "{" and not depth:
            words = [t for t, _ in current]
            text = "".join(w if w in "()[]" else f" {w}" for w in words).strip()
            match = re.match(
                r"^([\w.]+(?:\([^)]*\))?(?:\.[\w]+)?)\s*(?:\((.*)\))?\s*(\w+\s*->)?$", text, re.S
            )
            name = words[0] if words else "<closure>"
            arg = None
            if match and "(" in text and words and words[1:2] == ["("]:
                arg = text[text.index("(") + 1 : text.rindex(")")].strip()
            block = Block(name, arg, current[0][1] if current else line)
            stack[-1].children.append(block)
            stack.append(block)
            current = []
        elif token == "{":
            depth.append("{")
            current.append((token, line))
        elif token == "}" and depth:
            if depth.pop() != "{":
                raise ValueError(f"line {line}: unbalanced '}}'")
            current.append((token, line))
        elif token == "}":
            if current:
                stack[-1].statements.append((" ".join(t for t, _ in current), current[0][1]))
                current = []
            if len(stack) == 1:
                raise ValueError(f"line {line}: '}}' closes nothing")
            stack.pop()
        elif token == "\n":
            if current and not depth:
                stack[-1].statements.append((" ".join(t for t, _ in current), current[0][1]))
                current = []
        else:
            current.append((token, line))
    if depth or len(stack) != 1:
        raise ValueError("unbalanced delimiters at the end of the file")
    if current:
        root.statements.append((" ".join(t for t, _ in current), current[0][1]))
    return root


def check_jenkinsfile(text: str) -> list[str]:
    """Problems found in a declarative Jenkinsfile; empty when it is structurally sound."""
    try:
        root = _parse(_tokens(text))
    except ValueError as exc:
        return [str(exc)]
    problems: list[str] = []
    if root.statements:
        problems.append(f"line {root.statements[0][1]}: statement outside pipeline {{}}")
    if [b.name for b in root.children] != ["pipeline"]:
        return [*problems, "expected exactly one top-level pipeline { } block"]
    pipeline = root.children[0]
    names: set[str] = set()

    def words(block: Block) -> set[str]:
        return {b.name for b in block.children} | {s.split()[0] for s, _ in block.statements}

    def allowed(block: Block, known: set[str], where: str) -> None:
        for name in words(block) - known:
            problems.append(f"line {block.line}: {name!r} is not allowed in {where}")

    def agent(block: Block) -> None:
        kinds = words(block)
        if not kinds <= AGENTS:
            problems.append(f"line {block.line}: unknown agent {sorted(kinds - AGENTS)}")
        for child in block.children:
            if child.name == "docker" and "image" not in words(child):
                problems.append(f"line {child.line}: docker agent without an image")

    def stage(block: Block) -> None:
        if (
            block.name != "stage"
            or not block.arg
            or not re.match(r"^(['\"]).*\1$", block.arg, re.S)
        ):
            problems.append(f"line {block.line}: expected stage('name') {{ }}, got {block.name}")
            return
        if block.arg in names:
            problems.append(f"line {block.line}: duplicate stage name {block.arg}")
        names.add(block.arg)
        allowed(block, STAGE, f"stage {block.arg}")
        bodies = words(block) & BODIES
        if len(bodies) != 1:
            problems.append(
                f"line {block.line}: stage {block.arg} needs exactly one of steps, stages, "
                f"parallel, matrix (has {sorted(bodies) or 'none'})"
            )
        for child in block.children:
            section(child)

    def section(block: Block) -> None:
        if block.name == "agent":
            agent(block)
        elif block.name in {"stages", "parallel"}:
            if not block.children:
                problems.append(f"line {block.line}: empty {block.name}")
            if block.statements:
                problems.append(f"line {block.line}: {block.name} holds only stages")
            for child in block.children:
                stage(child)
        elif block.name == "steps":
            if not block.children and not block.statements:
                problems.append(f"line {block.line}: empty steps")
        elif block.name == "when":

            def conditions(b: Block) -> None:
                allowed(b, WHEN, "when")
                for c in b.children:
                    if c.name in {"anyOf", "allOf", "not"}:
                        conditions(c)

            conditions(block)
        elif block.name == "input":
            allowed(block, INPUT, "input")
            if "message" not in words(block):
                problems.append(f"line {block.line}: input without a message")
        elif block.name == "options":
            allowed(block, OPTIONS, "options")
        elif block.name == "post":
            allowed(block, POST, "post")
        elif block.name == "matrix":
            allowed(block, MATRIX, "matrix")
            if not {"axes", "stages"} <= words(block):
                problems.append(f"line {block.line}: matrix needs axes and stages")
            for child in block.children:
                if child.name == "axes":
                    for axis in child.children:
                        if axis.name != "axis" or not {"name", "values"} <= words(axis):
                            problems.append(f"line {axis.line}: axis needs name and values")
                else:
                    section(child)

    allowed(pipeline, PIPELINE, "pipeline")
    for required in ("agent", "stages"):
        if required not in words(pipeline):
            problems.append(f"pipeline has no {required}")
    for child in pipeline.children:
        section(child)
    return problems
