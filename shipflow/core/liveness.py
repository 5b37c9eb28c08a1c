"""How fast a dead run is noticed: heartbeats, and the windows of shipflow's two automations.

A flow run heartbeats every ``heartbeat_seconds`` while its process lives. When the process
dies with its worker (SIGKILL, a lost node), the heartbeats stop; the server marks the run
Crashed once ``crashed_after_seconds`` pass without a heartbeat or a final state. A run
cancelled while its worker is gone stays Cancelling (nobody is left to confirm); it is marked
Cancelled once ``cancel_confirm_seconds`` pass without a final state.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Prefect refuses heartbeats more often than this (PREFECT_FLOWS_HEARTBEAT_FREQUENCY ≥ 30).
MIN_HEARTBEAT_SECONDS = 30
# Prefect's triggers service evaluates proactive triggers every 5 s.
EVALUATION_SECONDS = 5
# Room for one late heartbeat (a loaded worker, a slow network) before a live run is judged
# dead.
MIN_SLACK_SECONDS = 15


class DeadRunPolicy(BaseModel):
    """Heartbeat interval and the two automation windows, in seconds."""

    model_config = ConfigDict(frozen=True)

    heartbeat_seconds: int = Field(default=30, ge=MIN_HEARTBEAT_SECONDS)
    crashed_after_seconds: int = Field(default=90, gt=0)
    cancel_confirm_seconds: int = Field(default=60, ge=10)

    @model_validator(mode="after")
    def _late_heartbeat_is_not_death(self) -> DeadRunPolicy:
        if self.crashed_after_seconds < self.heartbeat_seconds + MIN_SLACK_SECONDS:
            raise ValueError(
                f"crashed_after_seconds ({self.crashed_after_seconds}) must be at least the "
                f"heartbeat ({self.heartbeat_seconds}) + {MIN_SLACK_SECONDS}: a heartbeat a "
                "little late would otherwise crash a live run"
            )
        return self

    def crashed_within(self) -> tuple[int, int]:
        """Seconds from a process's death to its run being Crashed: (earliest, latest).
        The earliest when it died just before a heartbeat was due, the latest just after one."""
        return (
            self.crashed_after_seconds - self.heartbeat_seconds,
            self.crashed_after_seconds + EVALUATION_SECONDS,
        )

    def cancelled_within(self) -> int:
        """Seconds from a cancel request to Cancelled when no worker confirms it."""
        return self.cancel_confirm_seconds + EVALUATION_SECONDS

    def describe(self) -> str:
        low, high = self.crashed_within()
        return (
            f"heartbeats every {self.heartbeat_seconds}s; a run whose process died is Crashed "
            f"{low}-{high}s later; a cancel no worker confirms ends Cancelled within "
            f"{self.cancelled_within()}s"
        )
