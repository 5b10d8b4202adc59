"""Deploy histories around a shipped repository: healthy deploys of days past, the last good
deploy, and the release under suspicion (which ships several commits)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.scenarios.blind import repos
from tests.scenarios.blind.common import Ctx
from tests.scenarios.blind.kit import deploy, history
from tests.scenarios.blind.stacks import Svc
from tests.scenarios.git_repos import History


def release(
    ctx: Ctx, svc: Svc, h: History, minute: float, what: str, files: list[str]
) -> list[dict[str, Any]]:
    """Healthy history, the last good deploy (days ago), and the release at `minute`."""
    rng = ctx.rng
    out = history(rng, svc.name, ctx.alert_at, rng.randint(2, 4), newest_hours=rng.uniform(75, 120))
    out.append(
        deploy(
            rng,
            svc.name,
            ctx.alert_at - timedelta(days=3, hours=rng.uniform(0, 5)),
            h.shas["good"],
            "kim",
            h.subjects["good"],
            ["app"],
            out[-1]["commit"],
        )
    )
    out.append(
        deploy(
            rng,
            svc.name,
            ctx.alert_at + timedelta(minutes=minute),
            h.shas["deployed"],
            rng.choice(["ci-bot", "argocd"]),
            what,
            files,
            h.shas["good"],
        )
    )
    return out


def repo(ctx: Ctx, kind: str, pkg: str) -> History:
    """The service's repository, built in the scratch directory."""
    return repos.BUILDERS[kind](ctx.scratch / f"{kind}-{ctx.seed}", ctx.alert_at, pkg)
