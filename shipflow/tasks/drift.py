"""Drift tasks: scan one stack (read-only), publish the report, notify once per new drift."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.variables import Variable

from shipflow.adapters.stacks import find_stacks, read_stack
from shipflow.core.drift import DriftReport, DriftStatus, classify_drift, error_report
from shipflow.core.names import slug
from shipflow.core.plan_document import read_plan
from shipflow.errors import ConfigError, ShipflowError, StateLockedError
from shipflow.settings import load_settings
from shipflow.tasks.common import emit, load_secret, shipflow_task
from shipflow.tasks.terraform import (
    Stack,
    resolve_stack,
    review_shapes,
    warn_dropped_environment,
)


def discover_stacks(
    stacks: Sequence[str], stack_glob: str | None
) -> tuple[list[Stack], list[DriftReport]]:
    """The stacks named; with none named (or with ``stack_glob``), every stack under
    SHIPFLOW_STACKS_ROOT at any depth: a directory whose HCL declares a ``backend`` or
    ``cloud`` block, or that keeps a local ``terraform.tfstate``. ``stack_glob`` narrows the
    search (``envs/*/*``, ``**/prod``).

    Returns the stacks to scan, and an ``error`` report for each one that cannot be scanned
    (a named stack that is not a directory of ``*.tf`` files, a folder whose HCL does not
    parse): one bad stack is one error in the report, never the end of the scan.

    Raises:
        ConfigError: nothing named and nothing found, naming the folder searched.
    """
    found: list[Stack] = []
    unusable: list[DriftReport] = []
    for named in stacks:
        try:
            found.append(resolve_stack(named))
        except ConfigError as exc:
            unusable.append(error_report(named.rstrip("/") or named, f"not scanned: {exc}"))
    if stack_glob or not stacks:
        root = load_settings().stacks_root.resolve()
        paths, unreadable = find_stacks(root, stack_glob)
        for path, why in unreadable.items():
            name = path.relative_to(root).as_posix()
            unusable.append(error_report(name, f"not scanned, its HCL does not parse: {why}"))
        found += [resolve_stack(str(p)) for p in paths]
        if not found and not unusable:
            where = f" matching {stack_glob!r}" if stack_glob else ""
            raise ConfigError(
                "stacks",
                f"no Terraform stack found under {root}{where} (a directory whose HCL declares "
                "a backend or cloud block, or holds a terraform.tfstate); set "
                "SHIPFLOW_STACKS_ROOT or name the stacks",
            )
    unique: dict[Path, Stack] = {}
    for stack in found:
        unique.setdefault(stack.path, stack)
    return list(unique.values()), unusable


@shipflow_task(name="scan_stacks")
def scan_stacks(stacks: Sequence[Stack], max_parallel: int) -> list[DriftReport]:
    """Scan every stack, ``max_parallel`` Terraform processes at a time, logging each result
    as it comes. One task for the whole pool: a task run per stack would cost more than the
    plans of small stacks themselves."""
    logger = get_run_logger()
    if stacks:
        warn_dropped_environment(stacks[0].runner())  # the same worker environment for all
    with ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="drift") as pool:
        reports = list(pool.map(scan_stack, stacks))
    for report in reports:
        logger.info("%s: %s (%.1fs)", report.stack, report.summary(), report.seconds)
    return reports


def scan_stack(stack: Stack) -> DriftReport:
    """plan (``init`` only when needed; read-only: never applied, the state lock taken with
    a timeout, never skipped), classified. Never raises: a failure is an ``error`` report
    with its reason."""
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="shipflow-drift-"))
    try:
        tf = stack.runner()
        tf.check_version(read_stack(stack.path))
        plan = tf.plan_initialised(workdir / "drift.tfplan")
        if plan.has_changes or plan.drift_seen:
            doc = read_plan(tf.show_plan(plan.plan_file))
            report = classify_drift(
                stack.name,
                doc,
                shapes=review_shapes(tf, doc),
                seconds=time.monotonic() - started,
            )
        else:  # nothing to change and nothing seen drifting: no need to read the plan
            report = DriftReport(
                stack=stack.name, status=DriftStatus.CLEAN, seconds=time.monotonic() - started
            )
    except StateLockedError as exc:
        who = exc.lock.get("Who", "unknown")
        report = error_report(
            stack.name,
            f"locked by {who} (lock ID {exc.lock.get('ID', '?')})",
            seconds=time.monotonic() - started,
        )
    except ShipflowError as exc:
        report = error_report(stack.name, str(exc), seconds=time.monotonic() - started)
    except Exception as exc:  # one stack's surprise must not end the scan
        # An unreadable folder (OSError), a file that is not text, a bug of ours: the stack
        # is an error with the exception's class and message, the other stacks go on.
        report = error_report(
            stack.name, f"{type(exc).__name__}: {exc}", seconds=time.monotonic() - started
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # the plan file holds every value
    return report


@shipflow_task(name="publish_drift")
def publish_drift(
    stacks: Sequence[Stack],
    reports: Sequence[DriftReport],
    unusable: Sequence[DriftReport] = (),
) -> None:
    """A table of every stack (``reports`` of ``stacks``, then those that could not be
    scanned), a markdown diff per drifted stack, an event per drifted stack."""
    every = [*reports, *unusable]
    create_table_artifact(
        key="drift-report",
        table=[r.row() for r in every],
        description=f"Drift across {len(every)} stack(s)",
    )
    for stack, report in zip(stacks, reports, strict=True):
        if report.status is not DriftStatus.DRIFTED:
            continue
        create_markdown_artifact(
            key=f"drift-{stack.key}",
            markdown=report.to_markdown(),
            description=f"Drift in {stack.name}: {report.summary()}",
        )
        emit(
            "shipflow.terraform.drift.detected",
            stack.resource_id,
            payload={
                "summary": report.summary(),
                "fingerprint": report.fingerprint,
                "resources": {d.address: list(d.paths) for d in report.drifted},
            },
        )


def _variable_name(stack: Stack) -> str:
    return f"shipflow_drift_{slug(stack.name, sep='_', fallback='stack')}"[:255]


def _retry_notification(*_: object) -> bool:
    """A chat message posted twice is harmless; one lost to a blip is not."""
    return True


@shipflow_task(name="notify_drift", retries=2, retry_when=_retry_notification)
def notify_drift(
    stacks: Sequence[Stack], reports: Sequence[DriftReport], webhook_block: str
) -> list[str]:
    """POST a Slack-compatible message for each stack whose drift is new (its fingerprint
    differs from the one last reported, kept in a Prefect Variable). A stack found clean
    again forgets its drift, so the next drift is reported. Returns the stacks notified."""
    url = str(load_secret(webhook_block, field="notify_block"))
    sent = []
    for stack, report in zip(stacks, reports, strict=True):
        name = _variable_name(stack)
        seen = Variable.get(name, default=None)
        if report.status is DriftStatus.DRIFTED and seen != report.fingerprint:
            text = f":warning: Terraform drift in {stack.name}: {report.summary()}\n" + "\n".join(
                f"• {d.address} ({d.action.value}): {', '.join(d.paths) or '-'}"
                for d in report.drifted
            )
            response = httpx.post(url, json={"text": text}, timeout=10)
            response.raise_for_status()
            Variable.set(name, report.fingerprint, overwrite=True)
            sent.append(stack.name)
        elif report.status in (DriftStatus.CLEAN, DriftStatus.PENDING) and seen is not None:
            Variable.set(name, "", overwrite=True)
    return sent
