"""Database contention on a jobs table: more workers poll it with FOR UPDATE (no SKIP LOCKED), so
they queue on the same head rows and throughput falls as the worker count rises."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.scenarios.blind.alerts import AlertSpec
from tests.scenarios.blind.bundle import Incident
from tests.scenarios.blind.common import Ctx, background, pod_resources
from tests.scenarios.blind.kit import flat, history, step
from tests.scenarios.blind.stacks import Svc, k8s_event
from tests.scenarios.fresh.formats import counter, plain


def queue_table(ctx: Ctx) -> Incident:
    """KEDA scales the job workers from 4 to 16 on a backlog; they serialise on the jobs table's head rows."""
    rng = ctx.rng
    name = rng.choice(["document-jobs", "export-workers", "thumbnailer"])
    db = f"{name}-pg"
    svc = Svc.make(rng, name, "python", replicas=16)
    tel = ctx.telemetry()
    onset = ctx.onset(10, 25)
    done = rng.uniform(300, 500)
    tel.series(
        "kube_deployment_status_replicas",
        lambda m: 4 if m < onset else min(16, 4 + 2 * (m - onset)),
        noise=0.0,
        digits=0,
        service=name,
        deployment=name,
    )
    counter(
        tel,
        "jobs_completed_total",
        step(onset, done, done * 0.35, ramp=6),
        3e7,
        service=name,
        queue="default",
    )
    tel.series(
        "jobs_queue_depth",
        lambda m: 800 if m < onset - 10 else 800 + 260 * (m - onset + 10),
        noise=0.02,
        digits=0,
        service=name,
        queue="default",
    )
    tel.series(
        "pg_locks_count",
        step(onset, 4, 90, ramp=6),
        noise=0.08,
        digits=0,
        service=db,
        datname="jobs",
        mode="rowsharelock",
    )
    tel.series(
        "pg_stat_activity_count",
        step(onset, 1, 48, ramp=6),
        noise=0.08,
        digits=0,
        service=db,
        datname="jobs",
        state="active",
        wait_event_type="Lock",
    )
    tel.series(
        "aws_rds_cpuutilization_average", step(onset, 30, 44, ramp=6), service=db, dbinstance_identifier=db
    )
    tel.stream(
        step(onset - 10, 0, 0.3),
        lambda t: {
            **k8s_event(
                svc,
                svc.pod(),
                "KEDAScaleTargetActivated",
                f"Scaled apps/v1.Deployment {name}/{name} from 4 to 16 (queue length above 500)",
                kind="Normal",
                obj=f"ScaledObject/{name}",
            ),
            "source": "keda-operator",
        },
        end=onset + 1,
    )
    statement = (
        "SELECT id, payload FROM jobs WHERE state = 'queued' AND queue = 'default' ORDER BY "
        "priority DESC, id "
        "LIMIT 10 FOR UPDATE"
    )
    tel.stream(
        step(onset, 0, 12, ramp=6),
        lambda t: {
            "service": db,
            "level": "info",
            "logger": "postgresql",
            "db_instance": db,
            "message": f"LOG:  process {rng.randrange(20000, 60000)} still waiting for ShareLock "
            "on transaction "
            f"{rng.randrange(10**7, 10**8)} after 1000.{rng.randrange(10, 999)} ms",
            "statement": statement,
        },
    )

    def slow(t: datetime) -> dict[str, Any]:
        return plain(
            svc,
            t,
            "WARNING",
            "worker.poll",
            f"claimed 10 jobs in {rng.uniform(1.5, 9):.1f}s (worker {rng.randrange(1, 17)}/16)",
            thread="MainThread",
        )

    tel.stream(step(onset, 0, 15, ramp=6), slow)
    tel.stream(
        flat(done * 0.02),
        lambda t: plain(
            svc,
            t,
            "INFO",
            "worker.run",
            f"job {rng.randrange(10**7, 10**8)} done in {rng.randrange(80, 900)}ms",
        ),
    )
    tel.stream(
        flat(0.3),
        lambda t: plain(
            svc, t, "WARNING", "worker.render", "font cache rebuild took 2.1s", thread="MainThread"
        ),
    )
    pod_resources(tel, svc, mem_gib=0.5, limit_gib=1.0, cpu=0.3)
    background(tel, svc)
    return Incident(
        name=f"jobs-table-lock-queue-{ctx.seed}",
        service=name,
        truth="db-contention",
        description="A backlog makes KEDA scale the workers from 4 to 16; each claims jobs with "
        "SELECT ... FOR "
        "UPDATE without SKIP LOCKED, so they wait on one another's locks on the same head rows and completed "
        "jobs per minute fall to a third while the queue grows.",
        alert=AlertSpec(
            "JobsQueueDepth",
            f"{name} queue depth above 5000",
            "jobs_queue_depth{queue=default} 6.1k and rising",
            "jobs_queue_depth",
            severity="warning",
        ),
        tel=tel,
        deploys=history(rng, name, ctx.alert_at, 3, newest_hours=rng.uniform(20, 90)),
        other_services=[{"name": db}],
    )
