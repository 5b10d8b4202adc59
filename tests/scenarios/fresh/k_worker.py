"""A code regression in a queue worker: a Celery task divides by an empty list of linked accounts
(ships its repository; the deployed commit is not the culprit)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.scenarios.blind import repos as blind_repos
from tests.scenarios.blind.alerts import AlertSpec
from tests.scenarios.blind.bundle import Incident
from tests.scenarios.blind.common import Ctx, background, pod_resources
from tests.scenarios.blind.kit import flat, step
from tests.scenarios.blind.releases import release
from tests.scenarios.blind.stacks import Svc
from tests.scenarios.fresh.formats import counter
from tests.scenarios.fresh.k_deploy import found
from tests.scenarios.fresh.repos import repo


def payout_dlq(ctx: Ctx) -> Incident:
    """Settlement tasks for single-account merchants raise ZeroDivisionError; the DLQ fills."""
    rng = ctx.rng
    name = rng.choice(["payouts-worker", "settlement-worker", "merchant-payouts"])
    pk = name.replace("-", "_")
    svc = Svc.make(rng, name, "python", replicas=3)
    h = repo(ctx, "payouts", pk)
    tel = ctx.telemetry()
    onset = ctx.onset(15, 40)
    tasks = rng.uniform(60, 140)
    counter(
        tel,
        "celery_tasks_total",
        step(onset, tasks, tasks * 0.65),
        2e6,
        service=name,
        name="payouts.tasks.settle",
        state="SUCCESS",
    )
    counter(
        tel,
        "celery_tasks_total",
        step(onset, 0.05, tasks * 0.35),
        310,
        noise=0.1,
        service=name,
        name="payouts.tasks.settle",
        state="FAILURE",
    )
    tel.series(
        "rabbitmq_queue_messages",
        lambda m: 3 if m < onset else 3 + tasks * 0.35 * (m - onset),
        digits=0,
        service="rabbitmq",
        queue="payouts.dlq",
        vhost="/",
    )
    tel.series(
        "rabbitmq_queue_messages",
        flat(20),
        noise=0.3,
        digits=0,
        service="rabbitmq",
        queue="payouts.settle",
        vhost="/",
    )
    tel.stream(
        flat(tasks * 0.05),
        lambda t: svc.line(
            "INFO",
            f"Task payouts.tasks.settle[{uuid.UUID(int=rng.getrandbits(128))}] succeeded in "
            f"{rng.uniform(0.05, 0.4):.3f}s",
            logger="celery.app.trace",
        ),
    )

    def failed(t: Any) -> dict[str, Any]:
        task = uuid.UUID(int=rng.getrandbits(128))
        acct = f"acct_{rng.randrange(10**8, 10**9)}"
        kwargs = {
            "payout_id": f"po_{rng.randrange(10**9, 10**10)}",
            "amount_cents": rng.randrange(500, 900000),
            "merchant_account": acct,
            "linked_accounts": [],
            "currency": rng.choice(["USD", "EUR"]),
        }
        exc = (
            'Traceback (most recent call last):\n  File "/usr/local/lib/python3.11/site-packages/celery/app/'
            'trace.py", line 477, in trace_task\n    R = retval = fun(*args, **kwargs)\n  File "/app/'
            + pk
            + '/tasks.py", line 7, in settle\n    share = payout["amount_cents"] // len(accounts)\n'
            "ZeroDivisionError: integer division or modulo by zero"
        )
        return svc.line(
            "ERROR",
            f"Task payouts.tasks.settle[{task}] raised unexpected: ZeroDivisionError("
            "'integer division or modulo by zero')",
            logger="celery.app.trace",
            exc_info=exc,
            kwargs=kwargs,
        )

    tel.stream(step(onset, 0, tasks * 0.35 * 0.2), failed)
    tel.stream(
        flat(0.2),
        lambda t: svc.line(
            "WARNING",
            "consumer: Connection to broker lost. Trying to re-establish the connection...",
            logger="celery.worker.consumer.consumer",
        ),
        end=-90,
    )
    pod_resources(tel, svc, mem_gib=0.4, limit_gib=1.0, cpu=0.2)
    background(tel, svc)
    deploys = release(
        ctx,
        svc,
        h,
        onset - rng.uniform(0.5, 3),
        "release: PLN and CZK payouts, split payouts across linked accounts, prefetch 1",
        [f"{pk}/fx.py", f"{pk}/tasks.py", "celeryconfig.py"],
    )
    return Incident(
        name=f"payout-dlq-{ctx.seed}",
        service=name,
        truth="bad-deploy",
        description="A release splits payouts across linked accounts; merchants with none (an empty list, "
        "not a missing key) make the task divide by zero. A third of settlements land in the DLQ.",
        alert=AlertSpec(
            "DeadLetterQueueGrowing",
            "payouts.dlq depth above 100",
            "rabbitmq_queue_messages {queue=payouts.dlq} 420 and rising",
            "rabbitmq_queue_messages",
        ),
        tel=tel,
        deploys=deploys,
        repo=h,
        service_extra=blind_repos.service_config(
            "raised unexpected", field="kwargs", expect="ZeroDivisionError"
        ),
        expectations=found(h),
    )
