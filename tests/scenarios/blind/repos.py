"""Tiny real service repositories: a handler, a repro that replays one logged request, tests.
Each builder writes a history whose deployed commit is not the culprit (a harmless commit follows
it), and returns the labelled commits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.scenarios.blind import repo_sources as src
from tests.scenarios.git_repos import History

Builder = Callable[[Path, datetime, str], History]


def _when(alert_at: datetime, days: float) -> str:
    return (alert_at - timedelta(days=days)).replace(microsecond=0).isoformat()


class _Repo:
    """A history whose sources name the service's package for `PKG`."""

    def __init__(self, history: History, pkg: str) -> None:
        self.history = history
        self.pkg = pkg

    def commit(self, label: str, message: str, author: str, when: str, files: dict[str, str]) -> None:
        """Commit `files` with `PKG` replaced in names and contents."""
        self.history.commit(
            label,
            message,
            author,
            when,
            {k.replace("PKG", self.pkg): v.replace("PKG", self.pkg) for k, v in files.items()},
        )


def _tests(pkg: str, body: str) -> dict[str, str]:
    return {"tests/__init__.py": "", f"tests/test_{pkg}.py": body}


def pricing(path: Path, at: datetime, pkg: str) -> History:
    """Quotes with coupons: a suffix parser that chokes on word-suffixed codes (bad-deploy)."""
    h = _Repo(History.new(path), pkg)
    h.commit(
        "initial",
        "Quote service",
        "mara",
        _when(at, 40),
        {
            "PKG/__init__.py": "",
            "PKG/coupons.py": src.COUPONS_V1,
            "PKG/tax.py": src.TAX_V1,
            "PKG/app.py": src.PRICING_APP,
            "repro.py": src.REPRO_HTTP.replace("HANDLER", "handle_quote"),
            **_tests(pkg, src.PRICING_TESTS),
        },
    )
    h.commit("good", "Percentage coupons", "kim", _when(at, 6), {"PKG/coupons.py": src.COUPONS_V2})
    h.commit("vat", "VAT rates for the Nordics", "lee", _when(at, 1.2), {"PKG/tax.py": src.TAX_V2})
    h.commit(
        "culprit",
        "Coupon tiers from the code suffix",
        "ana",
        _when(at, 1.1),
        {"PKG/coupons.py": src.COUPONS_V3},
    )
    h.commit("deployed", "Log quote timings", "kim", _when(at, 1.0), {"PKG/timing.py": src.TIMING})
    return h.history


def orders(path: Path, at: datetime, pkg: str) -> History:
    """Order history: line items fetched per order (an N+1 that only shows as latency)."""
    h = _Repo(History.new(path), pkg)
    h.commit(
        "initial",
        "Order history service",
        "lee",
        _when(at, 30),
        {
            "PKG/__init__.py": "",
            "PKG/db.py": src.ORDERS_DB,
            "PKG/app.py": src.ORDERS_APP_V1,
            "PKG/money.py": src.MONEY_V1,
            "repro.py": src.REPRO_QUERIES,
            **_tests(pkg, src.ORDERS_TESTS),
        },
    )
    h.commit(
        "good",
        "Order history sorted newest first",
        "lee",
        _when(at, 3),
        {
            "PKG/app.py": src.ORDERS_APP_V1.replace(
                "rows[:limit]", "sorted(rows, key=lambda r: -r['id'])[:limit]"
            )
        },
    )
    h.commit("money", "Totals with two decimals", "mara", _when(at, 0.9), {"PKG/money.py": src.MONEY_V2})
    h.commit(
        "culprit", "Line items on order history", "kim", _when(at, 0.8), {"PKG/app.py": src.ORDERS_APP_V2}
    )
    h.commit(
        "deployed",
        "Document the order history endpoint",
        "kim",
        _when(at, 0.7),
        {"README.md": "# order history\n\nGET /api/orders?customer=ID&limit=N\n"},
    )
    return h.history


def notifier(path: Path, at: datetime, pkg: str) -> History:
    """A queue consumer that greets by preferred name, which may be null (crash loop)."""
    h = _Repo(History.new(path), pkg)
    h.commit(
        "initial",
        "Notification consumer",
        "ana",
        _when(at, 50),
        {
            "PKG/__init__.py": "",
            "PKG/render.py": src.RENDER_V1,
            "PKG/consumer.py": src.CONSUMER,
            "PKG/templates.py": src.TEMPLATES_V1,
            "repro.py": src.REPRO_MESSAGE,
            **_tests(pkg, src.NOTIFIER_TESTS),
        },
    )
    h.commit("good", "Order shipped template", "mara", _when(at, 4), {"PKG/templates.py": src.TEMPLATES_V2})
    h.commit(
        "culprit",
        "Greet users by their preferred name",
        "lee",
        _when(at, 0.6),
        {"PKG/render.py": src.RENDER_V2},
    )
    h.commit(
        "deployed",
        "Bump consumer prefetch to 20",
        "ana",
        _when(at, 0.5),
        {"PKG/consumer.py": src.CONSUMER.replace("PREFETCH = 10", "PREFETCH = 20")},
    )
    return h.history


def gateway(path: Path, at: datetime, pkg: str) -> History:
    """An API calling a rates upstream; a commit lowers the default timeout (config-change)."""
    h = _Repo(History.new(path), pkg)
    h.commit(
        "initial",
        "Conversion API",
        "kim",
        _when(at, 60),
        {
            "PKG/__init__.py": "",
            "PKG/settings.py": src.SETTINGS.replace("@TIMEOUT@", "5.0"),
            "PKG/upstream.py": src.UPSTREAM,
            "PKG/app.py": src.GATEWAY_APP,
            "PKG/retry.py": src.RETRY_V1,
            "repro.py": src.REPRO_HTTP.replace("HANDLER", "handle"),
            **_tests(pkg, src.GATEWAY_TESTS),
        },
    )
    h.commit(
        "good",
        "Round converted amounts half-even",
        "kim",
        _when(at, 5),
        {"PKG/app.py": src.GATEWAY_APP.replace("round(amount * rate, 2)", "float(f'{amount * rate:.2f}')")},
    )
    h.commit("retry", "Retry idempotent GETs once", "mara", _when(at, 0.5), {"PKG/retry.py": src.RETRY_V2})
    h.commit(
        "culprit",
        "Tighten upstream timeouts",
        "lee",
        _when(at, 0.45),
        {"PKG/settings.py": src.SETTINGS.replace("@TIMEOUT@", "0.75")},
    )
    h.commit(
        "deployed", "Request ids in access logs", "mara", _when(at, 0.4), {"PKG/logging_ids.py": src.LOG_IDS}
    )
    return h.history


def carrier(path: Path, at: datetime, pkg: str) -> History:
    """A quoting API over an external carrier; the deploy adds logos and breaks nothing."""
    h = _Repo(History.new(path), pkg)
    h.commit(
        "initial",
        "Shipping quotes",
        "ana",
        _when(at, 70),
        {
            "PKG/__init__.py": "",
            "PKG/carrier.py": src.CARRIER,
            "PKG/app.py": src.CARRIER_APP,
            "repro.py": src.REPRO_HTTP.replace("HANDLER", "handle"),
            **_tests(pkg, src.CARRIER_TESTS),
        },
    )
    h.commit(
        "good",
        "Express service level",
        "lee",
        _when(at, 8),
        {"PKG/app.py": src.CARRIER_APP.replace('LEVELS = ("ground",)', 'LEVELS = ("ground", "express")')},
    )
    h.commit(
        "culprit", "Carrier logos in quote responses", "mara", _when(at, 0.3), {"PKG/logos.py": src.LOGOS}
    )
    h.commit("deployed", "Pin urllib3 below 3", "kim", _when(at, 0.25), {"requirements.txt": "urllib3<3\n"})
    return h.history


BUILDERS: dict[str, Builder] = {
    "pricing": pricing,
    "orders": orders,
    "notifier": notifier,
    "gateway": gateway,
    "carrier": carrier,
}


def service_config(match: str, field: str = "request", expect: str | None = None) -> dict[str, Any]:
    """The service's repro (replaying `field` of the last line matching `match`) and its tests."""
    repro: dict[str, Any] = {
        "command": ["python3", "repro.py", "--request", "{request}"],
        "setup": ["python3", "-m", "compileall", "-q", "."],
        "timeout": 60,
        "setup_timeout": 120,
        "inputs": {"request": {"kind": "logs", "match": match, "field": field}},
    }
    if expect:
        repro["expect"] = expect
    return {"repro": repro, "test": {"command": ["python3", "-m", "unittest", "-q"], "timeout": 120}}
