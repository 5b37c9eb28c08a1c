"""HAProxy, through its runtime API: server weights, states, addresses and live statistics.

The runtime API is HAProxy's admin socket (``stats socket … level admin``), a unix socket or a
TCP address; each command is one line, answered with text and closed. Commands that change
something answer with an empty line when they worked, so any other answer is an error here.

:class:`HAProxyRouter` is a traffic router for VM fleets and the sandbox's ``local`` target:
the canary's share is the weight of its server against the stable server's in one backend
(round robin), moved with ``set server <backend>/<server> weight``. HAProxy weights are
relative, so ``stable 95 / canary 5`` is exactly 5 %. At weight 0 the canary takes no new
requests; :meth:`HAProxyRuntime.drain` waits until its open sessions are done.
"""

from __future__ import annotations

import csv
import io
import socket
from dataclasses import dataclass

from shipflow.adapters.waiting import Timeout, poll_until
from shipflow.errors import ConfigError, HAProxyError

# The states `set server … state` accepts.
STATES = ("ready", "drain", "maint")


@dataclass(frozen=True)
class ServerStat:
    """One server's line of ``show stat``."""

    backend: str
    server: str
    status: str  # UP, DOWN, MAINT, DRAIN, NOLB, "no check"
    weight: int
    sessions: int  # current sessions (scur)
    total: int  # cumulative sessions (stot)
    address: str


def _parse_address(address: str) -> tuple[socket.AddressFamily, str | tuple[str, int]]:
    if address.startswith("unix:"):
        return socket.AF_UNIX, address.removeprefix("unix:")
    host, sep, port = address.removeprefix("tcp:").rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(
            "haproxy.runtime", f"{address!r} is neither unix:/path nor host:port (TCP)"
        )
    return socket.AF_INET, (host or "127.0.0.1", int(port))


class HAProxyRuntime:
    """A client of one HAProxy's runtime API at ``address``: ``unix:/path/haproxy.sock`` or
    ``127.0.0.1:9999``."""

    def __init__(self, address: str, timeout: float = 5.0) -> None:
        self.address = address
        self.timeout = timeout
        self._family, self._target = _parse_address(address)

    def command(self, line: str) -> str:
        """Send one command and return HAProxy's whole answer."""
        try:
            with socket.socket(self._family, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(self._target)
                sock.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        except OSError as exc:
            raise HAProxyError(line, f"runtime API at {self.address} unreachable: {exc}") from exc
        return b"".join(chunks).decode(errors="replace")

    def change(self, line: str) -> None:
        """Send a command that changes something; anything but an empty answer is an error
        (HAProxy says "No such server.", "Invalid weight", … in text)."""
        answer = self.command(line).strip()
        if answer:
            raise HAProxyError(line, answer)

    def show_stat(self) -> list[ServerStat]:
        """Every server's status, weight and sessions (``show stat``, CSV)."""
        text = self.command("show stat").lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        stats = []
        for row in rows:
            if row.get("svname") in ("FRONTEND", "BACKEND", None):
                continue
            stats.append(
                ServerStat(
                    backend=row["pxname"],
                    server=row["svname"],
                    status=row.get("status", ""),
                    weight=int(row.get("weight") or 0),
                    sessions=int(row.get("scur") or 0),
                    total=int(row.get("stot") or 0),
                    address=row.get("addr", ""),
                )
            )
        return stats

    def server(self, backend: str, server: str) -> ServerStat:
        for stat in self.show_stat():
            if stat.backend == backend and stat.server == server:
                return stat
        raise HAProxyError(f"show stat {backend}/{server}", "No such server.")

    def set_weight(self, backend: str, server: str, weight: int) -> None:
        if not 0 <= weight <= 256:
            raise ConfigError("weight", f"{weight} is outside HAProxy's 0..256")
        self.change(f"set server {backend}/{server} weight {weight}")

    def weight(self, backend: str, server: str) -> int:
        """The server's current weight (``get weight`` answers ``5 (initial 0)``)."""
        answer = self.command(f"get weight {backend}/{server}").strip()
        head = answer.split(" ", 1)[0]
        if not head.isdigit():
            raise HAProxyError(f"get weight {backend}/{server}", answer)
        return int(head)

    def set_state(self, backend: str, server: str, state: str) -> None:
        if state not in STATES:
            raise ConfigError("state", f"{state!r} is not one of {', '.join(STATES)}")
        self.change(f"set server {backend}/{server} state {state}")

    def set_address(self, backend: str, server: str, host: str, port: int) -> None:
        """Point the server at ``host:port`` (a new process of the same version)."""
        answer = self.command(f"set server {backend}/{server} addr {host} port {port}").strip()
        # HAProxy reports a successful address change in words rather than with silence.
        if answer and "changed" not in answer and "no need to change" not in answer:
            raise HAProxyError(f"set server {backend}/{server} addr", answer)

    def drain(self, backend: str, server: str, timeout: float = 30.0) -> None:
        """Stop new requests to the server and wait until its open sessions are done."""
        self.set_state(backend, server, "drain")
        try:
            poll_until(
                lambda: self.server(backend, server).sessions == 0, timeout=timeout, interval=0.1
            )
        except Timeout:
            left = self.server(backend, server).sessions
            raise HAProxyError(
                f"drain {backend}/{server}", f"{left} sessions still open after {timeout:g}s"
            ) from None


class HAProxyRouter:
    """Splits one backend's traffic between a stable and a canary server by weight."""

    def __init__(
        self, runtime: HAProxyRuntime, backend: str, stable: str = "stable", canary: str = "canary"
    ) -> None:
        self.runtime, self.backend, self.stable, self.canary = runtime, backend, stable, canary

    def set_canary_weight(self, weight: int) -> int:
        """``weight`` % to the canary, the rest to stable; 0 takes every new request back to
        stable (the canary's open requests finish)."""
        if not 0 <= weight <= 100:
            raise ConfigError("weight", f"{weight} is not a percentage (0..100)")
        # The server whose weight grows is set first, so that between the two commands the
        # backend never has both servers at weight 0 (HAProxy would answer 503).
        order = [(self.canary, weight), (self.stable, 100 - weight)]
        if weight < self.canary_weight():
            order.reverse()
        for server, value in order:
            self.runtime.set_weight(self.backend, server, value)
        return weight

    def canary_weight(self) -> int:
        canary = self.runtime.weight(self.backend, self.canary)
        stable = self.runtime.weight(self.backend, self.stable)
        total = canary + stable
        return round(100 * canary / total) if total else 0

    def describe(self) -> str:
        return (
            f"HAProxy backend {self.backend} servers {self.stable}/{self.canary} "
            f"(runtime API {self.runtime.address}; weights in steps of 1 %)"
        )
