"""The sandbox's worker: serves shipflow's flows as deployments on the sandbox's Prefect server.

``python -m shipflow.deployments.sandbox.worker`` runs ``prefect.serve`` for the deployments
``prefect.yaml`` describes (release with its ``shipflow.git.merged`` trigger, terraform-release,
promote-canary, reconcile-canary, build-and-push, detect-drift without its schedule), each flow
run in a process of its own, with the sandbox's environment (cluster, registry, S3, Prometheus).
So a signed merge webhook to the sandbox's receiver becomes a release run here, as it would on
a team's worker, and a click on "Run" in the UI runs the flow here too.
"""

from __future__ import annotations

from typing import Any

SANDBOX_TAG = "shipflow-sandbox"


def deployments() -> list[Any]:
    from prefect.types.entrypoint import EntrypointType

    from shipflow.deployments.production import deployment_triggers, load_definitions
    from shipflow.flows.build_and_push import build_and_push
    from shipflow.flows.detect_drift import detect_drift
    from shipflow.flows.promote_canary import promote_canary, reconcile_canary
    from shipflow.flows.release import release
    from shipflow.flows.terraform_release import terraform_release

    # release's trigger is prefect.yaml's own (one mapping from the merge event to the run's
    # parameters, for a team's worker and the sandbox's alike).
    merged = deployment_triggers(next(s for s in load_definitions() if s.name == "release"))
    common: dict[str, Any] = {
        "tags": ["shipflow", SANDBOX_TAG],
        "entrypoint_type": EntrypointType.MODULE_PATH,
    }
    return [
        release.to_deployment(name="release", triggers=merged, **common),
        terraform_release.to_deployment(name="terraform-release", **common),
        promote_canary.to_deployment(name="promote-canary", **common),
        reconcile_canary.to_deployment(name="reconcile-canary", **common),
        build_and_push.to_deployment(name="build-and-push", **common),
        detect_drift.to_deployment(name="detect-drift", **common),
    ]


def main() -> None:
    from prefect import serve

    serve(*deployments(), limit=8, print_starting_message=False)


if __name__ == "__main__":
    main()
