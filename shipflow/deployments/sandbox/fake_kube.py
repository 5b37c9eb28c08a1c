"""A small, faithful stand-in for the Kubernetes API server (no kube-apiserver runs here).

It speaks real HTTP to the official Python client and to kubectl:

- discovery (``/api``, ``/apis``, group versions with their resources and verbs);
- CRUD of namespaced objects with Kubernetes ``Status`` bodies: 201 on create, 404, 409
  AlreadyExists, 409 Conflict on a PUT with a stale ``resourceVersion``, 422 on a bad patch;
- merge patch, JSON patch and strategic merge patch (lists of named things, such as
  containers, are merged by ``name`` so a sidecar survives a patch of another container);
- ``uid``, ``resourceVersion`` (one counter for the server), ``generation`` bumped only when
  ``spec`` changes, ``creationTimestamp``;
- list with label selectors (``=``, ``!=``, ``in``, ``notin``, exists, ``!key``) and watch
  (``?watch=true``, newline-delimited events, from a ``resourceVersion``);
- the ``scale`` and ``status`` subresources of Deployments;
- custom resources: Gateway API ``HTTPRoute`` and Istio ``VirtualService``;
- a toy Deployment controller: after a short delay it marks a rollout complete
  (``observedGeneration``, ``replicas``, ``updatedReplicas``, ``readyReplicas``,
  ``availableReplicas``), unless told to fail one, which it reports the way Kubernetes does:
  condition ``Progressing=False`` with reason ``ProgressDeadlineExceeded``;
- Pods (with a ``status`` subresource: a created pod is ``Pending`` until its status is
  written, as the kubelet would) and Events, stored and listed like any object; and, for a
  Deployment told to crash-loop, one pod per replica made from its current pod template, in
  ``CrashLoopBackOff`` (``lastState.terminated`` reason and exit code, ``restartCount``) with
  the kubelet's events (``BackOff``; ``Unhealthy``/``Killing`` for probe failures), its
  rollout failing; the pods go when it is scaled to 0, healed or deleted.

What it does not do: authentication and RBAC, admission and schema validation (any JSON body
is stored), field selectors, server-side apply, table output for kubectl (kubectl falls back to
plain JSON), ReplicaSets and the pods of healthy Deployments (the controller writes Deployment
status directly; only a crash-looping Deployment gets pods), a kubelet (nothing runs, no logs,
no probes: pod status and events are written by the controller or a test), garbage collection
(deleting a Deployment does not delete pods a test made), finalizers, and persistence across
restarts.

Control endpoints for tests (not Kubernetes API): ``POST /fake/fail-rollout`` and
``POST /fake/heal-rollout`` with ``{"namespace": ..., "name": ...}``; ``POST /fake/fail-image``
with ``{"image": ...}`` (any rollout of a pod template holding it fails);
``POST /fake/slow-rollout`` with ``{"namespace", "name", "seconds"}`` (its rollouts take that
long, updatedReplicas rising on the way, as a rolling update does); ``POST /fake/crash-loop``
with ``{"namespace", "name"}`` and optionally ``reason`` (default ``Error``), ``exitCode`` (1),
``restartCount`` (5), ``container`` (the first) and ``probe`` (``liveness`` or ``startup``: the
kubelet killed it for failing that probe) makes that Deployment's pods crash-loop until
``/fake/heal-rollout``; ``GET /fake/requests``
lists the requests seen (method, path, content type), to check what the client sent.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import jsonpatch


@dataclass(frozen=True)
class Kind:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    subresources: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


KINDS = [
    Kind("", "v1", "services", "Service"),
    Kind("", "v1", "configmaps", "ConfigMap"),
    Kind("", "v1", "secrets", "Secret"),
    Kind("", "v1", "pods", "Pod", ("status",)),
    Kind("", "v1", "events", "Event"),
    Kind("apps", "v1", "deployments", "Deployment", ("scale", "status")),
    Kind("networking.k8s.io", "v1", "ingresses", "Ingress", ("status",)),
    Kind("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", ("status",)),
    Kind("networking.istio.io", "v1", "virtualservices", "VirtualService"),
]

PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[a-z]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[a-z]+))?$"
)

MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
}


class ApiError(Exception):
    def __init__(
        self, code: int, reason: str, message: str, kind: str = "", name: str = ""
    ) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.kind, self.name = (
            code,
            reason,
            message,
            kind,
            name,
        )

    def status(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": {"name": self.name, "kind": self.kind},
            "code": self.code,
        }


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any, field: str = "") -> Any:
    """Strategic merge: like merge patch, but lists with a merge key are merged item by item."""
    if isinstance(patch, dict) and isinstance(target, dict):
        result = dict(target)
        for key, value in patch.items():
            if value is None:
                result.pop(key, None)
            else:
                result[key] = strategic_merge_patch(result.get(key), value, key)
        return result
    merge_key = MERGE_KEYS.get(field)
    if merge_key and isinstance(patch, list) and isinstance(target, list):
        result_list = [copy.deepcopy(item) for item in target]
        for item in patch:
            if not isinstance(item, dict) or merge_key not in item:
                raise ApiError(422, "Invalid", f"{field}: every item needs its {merge_key}")
            directive = item.get("$patch")
            index = next(
                (i for i, old in enumerate(result_list) if old.get(merge_key) == item[merge_key]),
                None,
            )
            if directive == "delete":
                if index is not None:
                    result_list.pop(index)
            elif index is None:
                result_list.append({k: v for k, v in item.items() if k != "$patch"})
            else:
                result_list[index] = strategic_merge_patch(result_list[index], item, "")
        return result_list
    return copy.deepcopy(patch)


def matches(labels: dict[str, str], selector: str) -> bool:
    """Kubernetes label selector syntax: a=b, a!=b, a in (x,y), a notin (x), a, !a."""
    if not selector:
        return True
    for term in re.split(r",(?![^()]*\))", selector):
        term = term.strip()
        if m := re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", term):
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if op == "in" and labels.get(key) not in values:
                return False
            if op == "notin" and key in labels and labels[key] in values:
                return False
        elif m := re.fullmatch(r"([\w./-]+)\s*(!=|==|=)\s*([\w./-]*)", term):
            key, op, value = m.groups()
            if op == "!=" and labels.get(key) == value:
                return False
            if op in ("=", "==") and labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


@dataclass
class Fault:
    """The next ``count`` resource requests with a method in ``methods`` (all when empty)
    answer ``status`` (a Kubernetes Status body; 0: answered normally) after ``delay``
    seconds: an API server failing, conflicting or slow for a while (tests/faults)."""

    status: int = 0
    delay: float = 0.0
    count: int = 1
    methods: tuple[str, ...] = ()

    def applies(self, method: str) -> bool:
        return self.count > 0 and (not self.methods or method in self.methods)


FAULT_REASONS = {
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


class Store:
    """Objects by (kind plural, namespace, name), with events for watchers."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.events: list[tuple[int, str, str, str, dict[str, Any]]] = []  # rv, plural, ns, type
        self.revision = 0
        self.failing: set[tuple[str, str]] = set()
        self.failing_images: set[str] = set()  # a pod template holding one never gets ready
        self.slow: dict[tuple[str, str], float] = {}  # rollouts that take this many seconds
        # Deployments whose pods crash-loop (how they crash), and the pods made for them.
        self.crash_looping: dict[tuple[str, str], dict[str, Any]] = {}
        self.crash_pods: dict[tuple[str, str], set[str]] = {}
        self.requests: list[dict[str, str]] = []
        self.faults: list[Fault] = []

    def next_rv(self) -> str:
        self.revision += 1
        return str(self.revision)

    def record(self, event_type: str, plural: str, ns: str, obj: dict[str, Any]) -> None:
        self.events.append((self.revision, plural, ns, event_type, copy.deepcopy(obj)))
        self.lock.notify_all()


class FakeKube:
    """The server. ``url`` is the API server address to put in a kubeconfig."""

    def __init__(self, rollout_delay: float = 0.3, port: int = 0) -> None:
        self.store = Store()
        self.rollout_delay = rollout_delay
        self.kinds = {k.plural: k for k in KINDS}
        handler = type("Handler", (_Handler,), {"fake": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self.httpd.serve_forever, daemon=True),
            threading.Thread(target=self._controller, daemon=True),
        ]

    def start(self) -> FakeKube:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        with self.store.lock:
            self.store.lock.notify_all()

    def inject(self, fault: Fault) -> Fault:
        """Arm ``fault`` (see :class:`Fault`); faults apply in the order armed."""
        with self.store.lock:
            self.store.faults.append(fault)
        return fault

    def kubeconfig(self) -> dict[str, Any]:
        return self.kubeconfig_for(self.url)

    @staticmethod
    def kubeconfig_for(url: str) -> dict[str, Any]:
        """A kubeconfig whose current context is the API server at ``url``."""
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [
                {
                    "name": "fake",
                    "context": {"cluster": "fake", "user": "fake", "namespace": "default"},
                }
            ],
            "current-context": "fake",
        }

    # --- object operations ------------------------------------------------------------------

    def get(self, plural: str, ns: str, name: str) -> dict[str, Any]:
        obj = self.store.objects.get((plural, ns, name))
        if obj is None:
            kind = self.kinds[plural]
            raise ApiError(
                404, "NotFound", f'{plural}.{kind.group or "core"} "{name}" not found', plural, name
            )
        return obj

    def create(self, plural: str, ns: str, body: dict[str, Any]) -> dict[str, Any]:
        kind = self.kinds[plural]
        meta = body.setdefault("metadata", {})
        name = meta.get("name") or (meta.get("generateName", "") + uuid.uuid4().hex[:5])
        if not name:
            raise ApiError(
                422, "Invalid", f"{kind.kind}: metadata.name: Required value", plural, ""
            )
        if (plural, ns, name) in self.store.objects:
            raise ApiError(409, "AlreadyExists", f'{plural} "{name}" already exists', plural, name)
        meta.update(
            name=name,
            namespace=ns,
            uid=str(uuid.uuid4()),
            resourceVersion=self.store.next_rv(),
            generation=1,
            creationTimestamp=_now(),
        )
        body["apiVersion"], body["kind"] = kind.api_version, kind.kind
        if plural == "deployments":
            body.setdefault("spec", {}).setdefault("replicas", 1)
            body.setdefault("status", {})
        if plural == "pods":  # a pod's status is the kubelet's to write, through /status
            body["status"] = {"phase": "Pending"}
        self.store.objects[(plural, ns, name)] = body
        self.store.record("ADDED", plural, ns, body)
        return body

    def replace(
        self, plural: str, ns: str, name: str, body: dict[str, Any], sub: str | None = None
    ) -> dict[str, Any]:
        old = self.get(plural, ns, name)
        sent_rv = body.get("metadata", {}).get("resourceVersion")
        if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {plural} "{name}": the object has been '
                "modified; please apply your changes to the latest version and try again",
                plural,
                name,
            )
        return self._store(plural, ns, name, old, body, sub)

    def patch(
        self, plural: str, ns: str, name: str, content_type: str, patch: Any, sub: str | None = None
    ) -> dict[str, Any]:
        old = self.get(plural, ns, name)
        current = self._view(old, sub)
        if content_type.startswith("application/json-patch+json"):
            try:
                new = jsonpatch.apply_patch(current, patch)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise ApiError(422, "Invalid", f"json patch failed: {exc}", plural, name) from exc
        elif content_type.startswith("application/merge-patch+json"):
            new = merge_patch(current, patch)
        elif content_type.startswith("application/strategic-merge-patch+json"):
            if plural not in ("deployments", "services", "configmaps", "ingresses", "pods"):
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    "strategic merge patch is not supported for custom resources",
                    plural,
                    name,
                )
            new = strategic_merge_patch(current, patch)
        else:
            raise ApiError(
                415, "UnsupportedMediaType", f"unsupported patch type {content_type}", plural, name
            )
        return self._store(plural, ns, name, old, new, sub)

    def delete(self, plural: str, ns: str, name: str) -> dict[str, Any]:
        obj = self.get(plural, ns, name)
        del self.store.objects[(plural, ns, name)]
        obj["metadata"]["resourceVersion"] = self.store.next_rv()
        self.store.record("DELETED", plural, ns, obj)
        return obj

    def _view(self, obj: dict[str, Any], sub: str | None) -> dict[str, Any]:
        if sub == "scale":
            return {
                "apiVersion": "autoscaling/v1",
                "kind": "Scale",
                "metadata": {
                    k: obj["metadata"][k] for k in ("name", "namespace", "uid", "resourceVersion")
                },
                "spec": {"replicas": obj["spec"].get("replicas", 1)},
                "status": {"replicas": obj.get("status", {}).get("replicas", 0)},
            }
        return copy.deepcopy(obj)

    def _store(
        self,
        plural: str,
        ns: str,
        name: str,
        old: dict[str, Any],
        new: dict[str, Any],
        sub: str | None,
    ) -> dict[str, Any]:
        if sub == "scale":
            replicas = new.get("spec", {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise ApiError(
                    422, "Invalid", "spec.replicas must be a non-negative integer", plural, name
                )
            merged = copy.deepcopy(old)
            merged["spec"]["replicas"] = replicas
        elif sub == "status":
            merged = copy.deepcopy(old)
            merged["status"] = new.get("status", {})
        else:
            merged = copy.deepcopy(new)
            merged["status"] = copy.deepcopy(old.get("status", {}))  # status only via /status
            keep = ("uid", "creationTimestamp", "generation", "namespace", "name")
            merged.setdefault("metadata", {}).update({k: old["metadata"][k] for k in keep})
        if merged.get("spec") != old.get("spec"):
            merged["metadata"]["generation"] = old["metadata"]["generation"] + 1
        merged["metadata"]["resourceVersion"] = self.store.next_rv()
        self.store.objects[(plural, ns, name)] = merged
        self.store.record("MODIFIED", plural, ns, merged)
        return self._view(merged, sub)

    # --- the toy Deployment controller ----------------------------------------------------

    def _controller(self) -> None:
        pending: dict[tuple[str, str], tuple[int, float]] = {}
        while not self._stop.is_set():
            with self.store.lock:
                now = time.monotonic()
                for (plural, ns, name), obj in list(self.store.objects.items()):
                    if plural != "deployments":
                        continue
                    gen = obj["metadata"]["generation"]
                    status = obj.get("status", {})
                    replicas = obj["spec"].get("replicas", 1)
                    images = {
                        c.get("image")
                        for c in obj["spec"].get("template", {}).get("spec", {}).get("containers")
                        or []
                    }
                    crash = self.store.crash_looping.get((ns, name))
                    self._sync_crash_pods(ns, name, obj, crash)
                    failing = (
                        (ns, name) in self.store.failing
                        or crash is not None
                        or bool(images & self.store.failing_images)
                    )
                    done = (
                        status.get("observedGeneration") == gen
                        and status.get("availableReplicas", 0) == replicas
                        and status.get("updatedReplicas", 0) == replicas
                        and status.get("replicas") == replicas
                    )
                    if done and not failing:
                        pending.pop((ns, name), None)
                        continue
                    seen_gen, since = pending.setdefault((ns, name), (gen, now))
                    if seen_gen != gen:
                        pending[(ns, name)] = (gen, now)
                        continue
                    slow = self.store.slow.get((ns, name), 0.0)
                    if slow and not failing and now - since < slow:
                        # A rolling update in progress: new pods replace old ones one by one.
                        updated = int(replicas * (now - since) / slow)
                        progress = {
                            "observedGeneration": gen,
                            "replicas": replicas,
                            "updatedReplicas": updated,
                            "readyReplicas": replicas,
                            "availableReplicas": replicas,
                            "conditions": [
                                {
                                    "type": "Progressing",
                                    "status": "True",
                                    "reason": "ReplicaSetUpdated",
                                    "message": f'ReplicaSet "{name}" is progressing.',
                                }
                            ],
                        }
                        if status != progress:
                            self._store(
                                "deployments", ns, name, obj, {"status": progress}, "status"
                            )
                        continue
                    if now - since < self.rollout_delay:
                        continue
                    if failing:
                        new_status = {
                            "observedGeneration": gen,
                            "replicas": replicas,
                            "updatedReplicas": 0,
                            "readyReplicas": 0,
                            "availableReplicas": 0,
                            "conditions": [
                                {
                                    "type": "Progressing",
                                    "status": "False",
                                    "reason": "ProgressDeadlineExceeded",
                                    "message": f'ReplicaSet "{name}" has timed out progressing.',
                                }
                            ],
                        }
                    else:
                        new_status = {
                            "observedGeneration": gen,
                            "replicas": replicas,
                            "updatedReplicas": replicas,
                            "readyReplicas": replicas,
                            "availableReplicas": replicas,
                            "conditions": [
                                {
                                    "type": "Progressing",
                                    "status": "True",
                                    "reason": "NewReplicaSetAvailable",
                                    "message": f'ReplicaSet "{name}" has successfully progressed.',
                                },
                                {
                                    "type": "Available",
                                    "status": "True",
                                    "reason": "MinimumReplicasAvailable",
                                },
                            ],
                        }
                    if status != new_status:
                        self._store("deployments", ns, name, obj, {"status": new_status}, "status")
                for ns, name in list(self.store.crash_pods):
                    if ("deployments", ns, name) not in self.store.objects:
                        self._sync_crash_pods(ns, name, None, None)
            time.sleep(0.05)

    # --- crash-looping pods (no kubelet, no ReplicaSets: only what a diagnosis reads) ------

    def _sync_crash_pods(
        self, ns: str, name: str, deployment: dict[str, Any] | None, crash: dict[str, Any] | None
    ) -> None:
        """Keep one crash-looping pod per replica of a Deployment told to crash-loop, made
        from its current pod template (none at 0 replicas, once healed, or once deleted)."""
        wanted: dict[str, dict[str, Any]] = {}
        if deployment is not None and crash is not None:
            template = deployment["spec"].get("template", {})
            digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
            replica_set = f"{name}-{digest[:10]}"
            for i in range(deployment["spec"].get("replicas", 1)):
                wanted[f"{replica_set}-{i:05d}"] = {"template": template, "rs": replica_set}
        have = self.store.crash_pods.setdefault((ns, name), set())
        for pod in sorted(have - set(wanted)):
            if ("pods", ns, pod) in self.store.objects:
                self.delete("pods", ns, pod)
            have.discard(pod)
        for pod, made in wanted.items():
            if pod in have:
                continue
            assert crash is not None
            self._make_crash_pod(ns, pod, made["rs"], made["template"], crash)
            have.add(pod)
        if not have:
            del self.store.crash_pods[(ns, name)]

    def _make_crash_pod(
        self, ns: str, pod: str, replica_set: str, template: dict[str, Any], crash: dict[str, Any]
    ) -> None:
        labels = dict(template.get("metadata", {}).get("labels", {}))
        labels["pod-template-hash"] = replica_set.rsplit("-", 1)[-1]
        owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replica_set}
        body = {
            "metadata": {
                "name": pod,
                "labels": labels,
                "ownerReferences": [{**owner, "uid": str(uuid.uuid4()), "controller": True}],
            },
            "spec": copy.deepcopy(template.get("spec", {})),
        }
        created = self.create("pods", ns, body)
        containers = created["spec"].get("containers") or [{"name": "app"}]
        crashing = crash.get("container") or containers[0].get("name")
        now = _now()
        statuses = []
        for c in containers:
            if c.get("name") != crashing:
                statuses.append(
                    {
                        "name": c.get("name"),
                        "image": c.get("image", ""),
                        "imageID": "",
                        "ready": True,
                        "started": True,
                        "restartCount": 0,
                        "state": {"running": {"startedAt": now}},
                    }
                )
                continue
            statuses.append(
                {
                    "name": crashing,
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": False,
                    "started": False,
                    "restartCount": int(crash.get("restartCount", 5)),
                    "state": {
                        "waiting": {
                            "reason": "CrashLoopBackOff",
                            "message": f"back-off 5m0s restarting failed container={crashing} "
                            f"pod={pod}_{ns}({created['metadata']['uid']})",
                        }
                    },
                    "lastState": {
                        "terminated": {
                            "reason": crash.get("reason", "Error"),
                            "exitCode": int(crash.get("exitCode", 1)),
                            "startedAt": now,
                            "finishedAt": now,
                        }
                    },
                }
            )
        status = {
            "phase": "Running",
            "startTime": now,
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
            ],
            "containerStatuses": statuses,
        }
        self._store("pods", ns, pod, created, {"status": status}, "status")
        involved = {
            "kind": "Pod",
            "namespace": ns,
            "name": pod,
            "uid": created["metadata"]["uid"],
            "fieldPath": f"spec.containers{{{crashing}}}",
        }
        events = [
            ("Warning", "BackOff", f"Back-off restarting failed container {crashing} in pod {pod}")
        ]
        probe = crash.get("probe")
        if probe:
            events = [
                (
                    "Warning",
                    "Unhealthy",
                    f"{probe.capitalize()} probe failed: HTTP probe failed with statuscode: 503",
                ),
                (
                    "Normal",
                    "Killing",
                    f"Container {crashing} failed {probe} probe, will be restarted",
                ),
                *events,
            ]
        for kind, reason, message in events:
            self.create(
                "events",
                ns,
                {
                    "metadata": {"name": f"{pod}.{uuid.uuid4().hex[:16]}"},
                    "involvedObject": involved,
                    "reason": reason,
                    "message": message,
                    "type": kind,
                    "count": int(crash.get("restartCount", 5)),
                    "firstTimestamp": now,
                    "lastTimestamp": now,
                    "source": {"component": "kubelet"},
                },
            )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKube
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else {}
        except json.JSONDecodeError as exc:
            raise ApiError(400, "BadRequest", f"body is not JSON: {exc.msg}") from exc

    def _dispatch(self, method: str) -> None:
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        fake = self.fake
        with fake.store.lock:
            fake.store.requests.append(
                {
                    "method": method,
                    "path": url.path,
                    "content_type": self.headers.get("Content-Type", ""),
                }
            )
        try:
            if url.path.startswith("/fake/"):
                self._control(method, url.path)
                return
            discovery = self._discovery(url.path)
            if discovery is not None:
                self._json(200, discovery)
                return
            m = PATH.match(url.path)
            self._fault(method)
            if not m or m.group("plural") not in fake.kinds:
                raise ApiError(
                    404,
                    "NotFound",
                    f"the server could not find the requested resource ({url.path})",
                )
            kind = fake.kinds[m.group("plural")]
            asked = (m.group("group") or "", m.group("core") or m.group("version"))
            if asked != (kind.group, kind.version):
                raise ApiError(404, "NotFound", f"no {kind.plural} in this group/version")
            ns, name, sub = m.group("ns") or "", m.group("name"), m.group("sub")
            if sub and sub not in kind.subresources:
                raise ApiError(404, "NotFound", f"{kind.plural} has no subresource {sub}")
            if method == "GET" and name is None:
                if query.get("watch") in ("true", "1"):
                    self._watch(kind, ns, query)
                    return
                self._json(200, self._list(kind, ns, query))
                return
            with fake.store.lock:
                if method == "GET":
                    result = fake._view(fake.get(kind.plural, ns, name), sub)
                    code = 200
                elif method == "POST" and name is None:
                    result, code = fake.create(kind.plural, ns, self._body()), 201
                elif method == "PUT":
                    result, code = fake.replace(kind.plural, ns, name, self._body(), sub), 200
                elif method == "PATCH":
                    ctype = self.headers.get("Content-Type", "")
                    result = fake.patch(kind.plural, ns, name, ctype, self._body(), sub)
                    code = 200
                elif method == "DELETE":
                    result, code = fake.delete(kind.plural, ns, name), 200
                else:
                    raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed here")
            self._json(code, result)
        except ApiError as exc:
            self._json(exc.code, exc.status())

    def _list(self, kind: Kind, ns: str, query: dict[str, str]) -> dict[str, Any]:
        selector = query.get("labelSelector", "")
        with self.fake.store.lock:
            items = [
                copy.deepcopy(obj)
                for (plural, o_ns, _), obj in sorted(self.fake.store.objects.items())
                if plural == kind.plural
                and (not ns or o_ns == ns)
                and matches(obj["metadata"].get("labels", {}), selector)
            ]
            rv = str(self.fake.store.revision)
        return {
            "apiVersion": kind.api_version,
            "kind": f"{kind.kind}List",
            "metadata": {"resourceVersion": rv},
            "items": items,
        }

    def _watch(self, kind: Kind, ns: str, query: dict[str, str]) -> None:
        since = int(query.get("resourceVersion") or self.fake.store.revision)
        timeout = float(query.get("timeoutSeconds", 30))
        selector = query.get("labelSelector", "")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        deadline = time.monotonic() + timeout
        sent = since
        try:
            while time.monotonic() < deadline and not self.fake._stop.is_set():
                with self.fake.store.lock:
                    batch = [
                        e
                        for e in self.fake.store.events
                        if e[0] > sent
                        and e[1] == kind.plural
                        and (not ns or e[2] == ns)
                        and matches(e[4]["metadata"].get("labels", {}), selector)
                    ]
                    if not batch:
                        self.fake.store.lock.wait(timeout=min(1.0, deadline - time.monotonic()))
                        continue
                for rv, _, _, event_type, obj in batch:
                    line = json.dumps({"type": event_type, "object": obj}).encode() + b"\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                    sent = rv
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _discovery(self, path: str) -> Any:
        path = path.rstrip("/")
        groups: dict[str, list[Kind]] = {}
        for kind in KINDS:
            groups.setdefault(kind.api_version, []).append(kind)

        def resources(kinds: list[Kind]) -> list[dict[str, Any]]:
            verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
            out = []
            for k in kinds:
                out.append(
                    {
                        "name": k.plural,
                        "singularName": k.kind.lower(),
                        "namespaced": True,
                        "kind": k.kind,
                        "verbs": verbs,
                    }
                )
                out += [
                    {
                        "name": f"{k.plural}/{s}",
                        "singularName": "",
                        "namespaced": True,
                        "kind": "Scale" if s == "scale" else k.kind,
                        "verbs": ["get", "patch", "update"],
                    }
                    for s in k.subresources
                ]
            return out

        if path == "/api":
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}
                ],
            }
        if path == "/apis":
            return {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [
                    {
                        "name": gv.split("/")[0],
                        "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
                        "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]},
                    }
                    for gv in groups
                    if "/" in gv
                ],
            }
        if path == "/version":
            return {"major": "1", "minor": "31", "gitVersion": "v1.31.0-fake"}
        gv = path.removeprefix("/api/").removeprefix("/apis/")
        if path.startswith(("/api/", "/apis/")) and gv in groups:
            return {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": gv,
                "resources": resources(groups[gv]),
            }
        return None

    def _fault(self, method: str) -> None:
        """Answer as the first armed fault that applies says (and use it up)."""
        with self.fake.store.lock:
            fault = next((f for f in self.fake.store.faults if f.applies(method)), None)
            if fault is None:
                return
            fault.count -= 1
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status:
            reason = FAULT_REASONS.get(fault.status, "InternalError")
            raise ApiError(fault.status, reason, f"injected fault: {fault.status} {reason}")

    def _control(self, method: str, path: str) -> None:
        store = self.fake.store
        if path == "/fake/requests":
            with store.lock:
                self._json(200, list(store.requests))
            return
        body = self._body()
        with store.lock:
            if path == "/fake/fail-image":
                store.failing_images.add(body["image"])
            elif path == "/fake/slow-rollout":
                store.slow[(body["namespace"], body["name"])] = float(body["seconds"])
            elif path == "/fake/fail-rollout":
                store.failing.add((body["namespace"], body["name"]))
            elif path == "/fake/heal-rollout":
                store.failing.discard((body["namespace"], body["name"]))
                store.crash_looping.pop((body["namespace"], body["name"]), None)
            elif path == "/fake/crash-loop":
                how = {k: v for k, v in body.items() if k not in ("namespace", "name")}
                store.crash_looping[(body["namespace"], body["name"])] = how
            else:
                raise ApiError(404, "NotFound", path)
        self._json(200, {"ok": True})

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")


def main() -> None:
    """``python -m shipflow.deployments.sandbox.fake_kube PORT``: the sandbox's API server as
    a process of its own (``shipflow sandbox up``); SIGTERM stops it."""
    import signal
    import sys

    fake = FakeKube(rollout_delay=0.5, port=int(sys.argv[1])).start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    fake.stop()


if __name__ == "__main__":
    main()
