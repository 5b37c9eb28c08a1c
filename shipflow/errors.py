"""The one error tree of shipflow.

::

    ShipflowError
     ├── ConfigError(field, problem)       bad input: names the field and the allowed values
     ├── PolicyViolation                   input is well-formed but a policy refuses it
     │    └── StalePlanError               the approved plan no longer matches file or state
     ├── ConcurrencyBusy                   another run holds the slot (one apply per stack, …)
     ├── WebhookRejected(status, reason)   a webhook request refused, with its HTTP status
     ├── WebhookIgnored(reason)            a valid webhook that is not a merge (202, no event)
     ├── ServiceError                      a local service (sandbox, tests) could not start
     └── AdapterError                      an outside system answered badly
          ├── TerraformError(command, returncode, stderr_tail)
          │    ├── StateLockedError(lock)  + Transient
          │    └── InitRequiredError       the working directory needs `terraform init`
          ├── PrometheusError(query, problem, status)  status: HTTP code or None
          ├── KubernetesError(kind, name, status, reason)  status: HTTP code or None
          │    └── TransientKubernetesError  + Transient (409, 429, 5xx, connection)
          ├── HAProxyError(command, answer) the runtime API refused a command or is unreachable
          ├── BuildError(context)          an image build failed (the Dockerfile, a RUN step)
          ├── GitError(command, returncode, stderr_tail)
          │    └── CommitNotFound(sha, url)  the repository does not have the commit
          └── RegistryError(ref)           a push, pull or manifest read failed
               ├── TransientRegistryError  + Transient (connection refused, 5xx)
               └── DigestMismatch          tags of one build resolve to different digests

``Transient`` is a marker mixin: an error that carries it is safe to retry (the operation did
not change anything). Prefect's ``retry_condition_fn`` reads it through :func:`is_transient`.
Every message here is built from redacted text only; callers pass redacted stderr.
"""

from __future__ import annotations

from collections.abc import Mapping


class ShipflowError(Exception):
    """Base of every error shipflow raises on purpose."""


class Transient:
    """Marker: the failed operation changed nothing and may be tried again."""


class ConfigError(ShipflowError, ValueError):
    """Bad input: a field has a value outside what is allowed."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class PolicyViolation(ShipflowError):
    """Well-formed input that a policy refuses (a mutable tag in production, a stale plan)."""


class StalePlanError(PolicyViolation):
    """The plan that was approved is not the plan (or the state) that would be applied."""


class ConcurrencyBusy(ShipflowError):
    """Another run holds the slot this run needs (one apply per stack, one canary per app)."""


class WebhookRejected(ShipflowError):
    """A webhook request is refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class WebhookIgnored(ShipflowError):
    """A valid webhook request about something that is not a merge (202, no event)."""


class ServiceError(ShipflowError):
    """A local service (the sandbox's, or the test suite's) could not be started."""


class AdapterError(ShipflowError):
    """An outside system (Terraform, Prometheus, Kubernetes, a registry) failed."""


class TerraformError(AdapterError):
    """A Terraform command exited with an error."""

    def __init__(self, command: str, returncode: int, stderr_tail: str) -> None:
        self.command = command
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        tail = f": {stderr_tail}" if stderr_tail else ""
        super().__init__(f"terraform {command} failed (exit {returncode}){tail}")


class StateLockedError(TerraformError, Transient):
    """Terraform could not take the state lock because someone else holds it.

    Carries the lock's owner so that a human can find them; shipflow never force-unlocks.
    """

    def __init__(self, command: str, returncode: int, lock: Mapping[str, str]) -> None:
        self.lock = dict(lock)
        who = self.lock.get("Who", "unknown")
        lock_id = self.lock.get("ID", "unknown")
        op = self.lock.get("Operation", "unknown")
        created = self.lock.get("Created", "unknown")
        detail = (
            f"state is locked by {who} (lock ID {lock_id}, operation {op}, since {created}); "
            "shipflow never force-unlocks: ask the owner, or run `terraform force-unlock "
            f"{lock_id}` yourself once you know the lock is abandoned"
        )
        super().__init__(command, returncode, detail)


class InitRequiredError(TerraformError):
    """The working directory is not initialised (backend, providers or modules missing)."""


class PrometheusError(AdapterError):
    """A PromQL query failed (HTTP error, timeout, bad response)."""

    def __init__(self, query: str, problem: str, status: int | None = None) -> None:
        self.query = query
        self.problem = problem
        self.status = status  # the HTTP status code, when Prometheus answered one
        super().__init__(f"prometheus query failed ({problem}): {query}")


class KubernetesError(AdapterError):
    """The Kubernetes API refused or failed a request, or an object will not get where it
    should. ``status`` is the HTTP status code (None when no response said one: unreachable,
    a timeout, a rollout that failed); ``reason`` the word for it (``NotFound``,
    ``ProgressDeadlineExceeded``, ``unreachable``)."""

    def __init__(
        self, kind: str, name: str, status: int | None, reason: str, message: str = ""
    ) -> None:
        self.kind = kind
        self.name = name
        self.status = status
        self.reason = reason
        code = f"{status} {reason}" if status is not None else reason
        extra = f": {message}" if message else ""
        super().__init__(f"kubernetes {kind}/{name} failed ({code}){extra}")


class TransientKubernetesError(KubernetesError, Transient):
    """A Kubernetes request that may succeed when repeated (conflict, 5xx, connection)."""


class HAProxyError(AdapterError):
    """HAProxy's runtime API refused a command (its answer says why) or could not be reached."""

    def __init__(self, command: str, answer: str) -> None:
        self.command = command
        self.answer = answer
        super().__init__(f"haproxy {command!r}: {answer}")


class BuildError(AdapterError):
    """An image build failed: the Dockerfile, a RUN step, or the builder itself."""

    def __init__(self, context: str, message: str) -> None:
        self.context = context
        super().__init__(f"build of {context} failed: {message}")


class GitError(AdapterError):
    """A git command failed (fetch, checkout); ``stderr_tail`` never holds credentials."""

    def __init__(self, command: str, returncode: int, stderr_tail: str) -> None:
        self.command = command
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        tail = f": {stderr_tail}" if stderr_tail else ""
        super().__init__(f"git {command} failed (exit {returncode}){tail}")


class CommitNotFound(GitError):
    """The repository has no commit ``sha``: nothing is built from it."""

    def __init__(self, sha: str, url: str) -> None:
        self.sha = sha
        self.url = url
        super().__init__("fetch", 0, "")
        self.args = (f"commit {sha} not found in {url}",)


class RegistryError(AdapterError):
    """A container registry refused or failed a request (push, pull, manifest read)."""

    def __init__(self, ref: str, message: str) -> None:
        self.ref = ref
        super().__init__(f"registry {ref}: {message}")


class TransientRegistryError(RegistryError, Transient):
    """A registry request that may succeed when repeated (connection refused, 5xx)."""


class DigestMismatch(RegistryError):
    """Tags pushed from one build resolve to different digests in the registry."""


def is_transient(exc: BaseException | None) -> bool:
    """True when ``exc`` (or an exception it was raised from) is marked :class:`Transient`."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, Transient):
            return True
        seen.add(id(exc))
        exc = exc.__cause__
    return False
