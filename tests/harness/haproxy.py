"""HAProxy for the tests: no shipflow code drives HAProxy yet, so its start-up lives here."""

from __future__ import annotations

from pathlib import Path

from shipflow.deployments import local


def haproxy_service(
    frontend: int, runtime: int, workdir: Path, servers: dict[str, str]
) -> local.Service:
    """HAProxy with one HTTP frontend, one backend ``app`` and an admin runtime API.

    ``servers`` maps a server name to ``host:port``; the first starts with weight 100, the
    others with 0 (the runtime API changes them).
    """
    lines = [
        "global",
        f"  stats socket ipv4@127.0.0.1:{runtime} level admin",
        "defaults",
        "  mode http",
        "  timeout connect 1s",
        "  timeout client 5s",
        "  timeout server 5s",
        "frontend web",
        f"  bind 127.0.0.1:{frontend}",
        "  default_backend app",
        "backend app",
        "  balance roundrobin",
    ]
    for i, (name, address) in enumerate(servers.items()):
        lines.append(f"  server {name} {address} weight {100 if i == 0 else 0}")
    config = workdir / "haproxy.cfg"
    config.write_text("\n".join(lines) + "\n")
    return local.Service(
        name="haproxy",
        argv=[local.require_binary("haproxy"), "-db", "-f", str(config)],
        ready=local.tcp_ready(runtime),
        log_path=workdir / "haproxy.log",
    )
