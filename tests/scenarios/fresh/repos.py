"""The fresh corpus's service repositories: each history's deployed commit is not the culprit
(a harmless commit follows it), as in the blind corpus's `repos`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from tests.scenarios.blind import repo_sources as blind_src
from tests.scenarios.blind.common import Ctx
from tests.scenarios.blind.repos import _Repo, _tests, _when
from tests.scenarios.fresh import repo_sources as src
from tests.scenarios.git_repos import History

Builder = Callable[[Path, datetime, str], History]


def invoices(path: Path, at: datetime, pkg: str) -> History:
    """Invoice rendering: a commit looks currency symbols up without a default (bad-deploy)."""
    h = _Repo(History.new(path), pkg)
    h.commit(
        "initial",
        "Invoice renderer",
        "lee",
        _when(at, 45),
        {
            "PKG/__init__.py": "",
            "PKG/money.py": src.MONEY_V1,
            "PKG/app.py": src.INVOICE_APP,
            "repro.py": blind_src.REPRO_HTTP.replace("HANDLER", "handle"),
            **_tests(pkg, src.INVOICE_TESTS),
        },
    )
    h.commit(
        "good", "Currency symbols on invoice totals", "mara", _when(at, 9), {"PKG/money.py": src.MONEY_V2}
    )
    h.commit(
        "culprit",
        "Symbol after the amount for euro invoices",
        "ana",
        _when(at, 0.3),
        {"PKG/money.py": src.MONEY_V3},
    )
    h.commit("deployed", "PDF producer metadata", "kim", _when(at, 0.25), {"PKG/pdf_meta.py": src.PDF_META})
    return h.history


def catalog(path: Path, at: datetime, pkg: str) -> History:
    """Catalog pages behind a shared cache: a commit puts the customer in the cache key."""
    h = _Repo(History.new(path), pkg)
    h.commit(
        "initial",
        "Catalog pages",
        "kim",
        _when(at, 80),
        {
            "PKG/__init__.py": "",
            "PKG/cache.py": src.CACHE_V1,
            "PKG/origin.py": src.ORIGIN,
            "PKG/app.py": src.CATALOG_APP,
            "PKG/prices.py": src.PRICES_V1,
            "repro.py": src.REPRO_CATALOG,
            **_tests(pkg, src.CATALOG_TESTS),
        },
    )
    h.commit(
        "good", "Catalog page size 48", "lee", _when(at, 12), {"README.md": "# catalog\n\n48 per page\n"}
    )
    h.commit(
        "prices",
        "Contract prices for B2B customers",
        "mara",
        _when(at, 1.3),
        {"PKG/prices.py": src.PRICES_V2},
    )
    h.commit(
        "culprit",
        "Cache pages per customer (contract prices)",
        "mara",
        _when(at, 1.25),
        {"PKG/cache.py": src.CACHE_V2},
    )
    h.commit(
        "deployed",
        "Document contract prices",
        "mara",
        _when(at, 1.2),
        {"README.md": "# catalog\n\n48 per page; contract customers see their prices\n"},
    )
    return h.history


def payouts(path: Path, at: datetime, pkg: str) -> History:
    """Payout settlement tasks: a commit divides by the linked accounts, which may be none."""
    h = _Repo(History.new(path), pkg)
    h.commit(
        "initial",
        "Payout settlement worker",
        "ana",
        _when(at, 100),
        {
            "PKG/__init__.py": "",
            "PKG/tasks.py": src.PAYOUT_TASKS_V1,
            "PKG/fx.py": src.FX_V1,
            "repro.py": src.REPRO_TASK,
            **_tests(pkg, src.PAYOUT_TESTS),
        },
    )
    h.commit(
        "good", "Settle in the merchant's currency", "kim", _when(at, 20), {"PKG/fx.py": src.FX_V1 + "\n"}
    )
    h.commit("fx", "PLN and CZK payouts", "lee", _when(at, 0.6), {"PKG/fx.py": src.FX_V2})
    h.commit(
        "culprit",
        "Split payouts across linked accounts",
        "ana",
        _when(at, 0.55),
        {"PKG/tasks.py": src.PAYOUT_TASKS_V2},
    )
    h.commit(
        "deployed",
        "Celery prefetch multiplier 1",
        "kim",
        _when(at, 0.5),
        {"celeryconfig.py": "worker_prefetch_multiplier = 1\n"},
    )
    return h.history


def uploads(path: Path, at: datetime, pkg: str) -> History:
    """Media uploads to a regional object store; the deploy adds thumbnail presets, harmless."""
    h = _Repo(History.new(path), pkg)
    h.commit(
        "initial",
        "Media uploads",
        "lee",
        _when(at, 90),
        {
            "PKG/__init__.py": "",
            "PKG/store.py": src.STORE,
            "PKG/app.py": src.UPLOAD_APP,
            "repro.py": blind_src.REPRO_HTTP.replace("HANDLER", "handle"),
            **_tests(pkg, src.UPLOAD_TESTS),
        },
    )
    h.commit("good", "Uploads up to 20 MiB", "kim", _when(at, 7), {"PKG/app.py": src.UPLOAD_APP + "\n"})
    h.commit("presets", "Thumbnail size presets", "mara", _when(at, 0.2), {"PKG/presets.py": src.PRESETS})
    h.commit(
        "deployed", "Bump Pillow", "deploy-bot", _when(at, 0.18), {"requirements.txt": "Pillow==10.4.0\n"}
    )
    return h.history


BUILDERS: dict[str, Builder] = {
    "invoices": invoices,
    "catalog": catalog,
    "payouts": payouts,
    "uploads": uploads,
}


def repo(ctx: Ctx, kind: str, pkg: str) -> History:
    """The service's repository, built in the scratch directory."""
    return BUILDERS[kind](ctx.scratch / f"{kind}-{ctx.seed}", ctx.alert_at, pkg)
