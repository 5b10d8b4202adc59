"""The changes that break a world's service: code regressions and configuration changes, each with
the failing request it answers 500 to and the exception text the repro must show."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Body = dict[str, Any]


@dataclass(frozen=True)
class Defaults:
    """The configuration a world's service starts with."""

    timeout: int
    max_items: int
    pool_size: int


@dataclass(frozen=True)
class Change:
    """One culprit commit: text replacements in one file, and what it breaks."""

    kind: str  # "code" or "config"
    path: str  # relative; PKG is the package
    edits: list[tuple[str, str]]
    subject: str
    expect: str  # in the repro's output at the deployed commit
    log: str  # the new error line (a render template: braces are placeholders)
    failing: Callable[[random.Random], Body]
    status: int = 500
    fields: dict[str, str] = field(default_factory=dict)  # the slice of traffic that fails

    def apply(self, text: str) -> str:
        """The file after the change."""
        for old, new in self.edits:
            assert old in text, f"{self.subject}: {old!r} is not in {self.path}"
            text = text.replace(old, new)
        return text


def items(rng: random.Random, count: int | None = None, qty: Callable[[int], Any] = int) -> list[Body]:
    """A cart's items."""
    return [{"price": f"{rng.randint(2, 90)}.{rng.choice(['00', '50', '99'])}",
             "qty": qty(rng.randint(1, 3))} for _ in range(count or rng.randint(1, 3))]


def body(rng: random.Random, **override: Any) -> Body:
    """A request body every version of the service answers 200 to, with `override`."""
    base: Body = {"items": items(rng), "currency": rng.choice(["USD", "GBP"]), "locale": "en",
                  "shipping": "standard", "coupon": rng.choice(["SPRING", "WELCOME5"])}
    base.update(override)
    return {k: v for k, v in base.items() if v is not None}


LOGIC = "PKG/logic.py"
_EXC = "unhandled exception in POST /api/{svc}/quote: "


def code_change(rng: random.Random, svc: str) -> Change:
    """A code regression, chosen by `rng`."""
    exc = _EXC.replace("{svc}", svc)
    options = [
        Change("code", LOGIC, [('    locale = body.get("locale", config.DEFAULT_LOCALE)\n',
                                '    locale = body["locale"]  # every client sends it now\n')],
               "Read the locale from the request for localised totals", "KeyError: 'locale'",
               exc + "KeyError: 'locale'", lambda r: body(r, locale=None),
               fields={"client": rng.choice(["ios", "partner-api"])}),
        Change("code", LOGIC, [('RATES = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79}',
                                'RATES = {"USD": 1.0, "GBP": 0.79}  # EUR comes from the treasury feed'),
                               ("RATES.get(currency, 1.0)", "RATES[currency]")],
               "Take exchange rates from the treasury feed", "KeyError: 'EUR'",
               exc + "KeyError: 'EUR'", lambda r: body(r, currency="EUR"),
               fields={"currency": "EUR"}),
        Change("code", LOGIC, [('"""Quotes: price a request\'s items in its currency."""\n',
                                '"""Quotes: price a request\'s items in its currency."""\n\n'
                                'from decimal import Decimal\n'),
                               ('float(item["price"]) * _qty(item)',
                                'Decimal(str(item["price"])) * _qty(item)'),
                               ("RATES.get(currency, 1.0)", "Decimal(str(RATES.get(currency, 1.0)))"),
                               ('"total": round(total, 2), "average": round(average, 2)',
                                '"total": float(round(total, 2)), "average": float(round(average, 2))')],
               "Exact totals with Decimal",
               "unsupported operand type(s) for +: 'decimal.Decimal' and 'float'",
               exc + "TypeError: unsupported operand type(s) for +: 'decimal.Decimal' and 'float'",
               lambda r: body(r, shipping="express"), fields={"shipping": "express"}),
        Change("code", LOGIC, [('code = (body.get("coupon") or "").strip().upper()',
                                'code = body.get("coupon").strip().upper()')],
               "Normalise coupon codes", "AttributeError: 'NoneType' object has no attribute 'strip'",
               exc + "AttributeError: 'NoneType' object has no attribute 'strip'",
               lambda r: body(r, coupon=None)),
        Change("code", LOGIC, [("average = subtotal / len(items) if items else 0",
                                "average = subtotal / len(items)")],
               "Report the average item price", "ZeroDivisionError: division by zero",
               exc + "ZeroDivisionError: division by zero", lambda r: body(r, items=[]),
               fields={"path": f"/api/{svc}/quote"}),
        Change("code", LOGIC, [('return int(float(item["qty"]))', 'return int(item["qty"])')],
               "Simplify quantity parsing", "invalid literal for int() with base 10",
               exc + "ValueError: invalid literal for int() with base 10: '2.0'",
               lambda r: body(r, items=items(r, qty=lambda n: f"{n}.0")),
               fields={"client": "android"}),
    ]
    return rng.choice(options)


def config_change(rng: random.Random, svc: str, defaults: Defaults) -> Change:
    """A configuration change that lowers a limit or flips a setting, chosen by `rng`."""
    exc = _EXC.replace("{svc}", svc)
    timeout = max(1, defaults.timeout // rng.choice([5, 10]))
    max_items = max(2, defaults.max_items // 10)
    pool = max(2, defaults.pool_size // rng.choice([8, 10]))
    options = [
        Change("config", "PKG/config.py",
               [(f"UPSTREAM_TIMEOUT_SECONDS = {defaults.timeout}\n",
                 f"UPSTREAM_TIMEOUT_SECONDS = {timeout}\n")],
               "Fail fast on slow upstream calls", f"upstream call timed out after {timeout}s",
               exc + f"TimeoutError: upstream call timed out after {timeout}s",
               lambda r: body(r, upstream_ms=r.randint(timeout * 1000 + 300, timeout * 1000 + 4000)),
               status=504),
        Change("config", "PKG/config.py",
               [(f"MAX_ITEMS = {defaults.max_items}\n", f"MAX_ITEMS = {max_items}\n")],
               "Cap batch sizes", f"exceeds MAX_ITEMS={max_items}",
               exc + f"ValueError: batch of {max_items + 4} items exceeds MAX_ITEMS={max_items}",
               lambda r: body(r, items=items(r, r.randint(max_items + 1, max_items * 3))),
               status=500, fields={"client": "partner-api"}),
        Change("config", "config/settings.yaml",
               [(f"pool_size: {defaults.pool_size}\n", f"pool_size: {pool}\n")],
               "Right-size the connection pool", "connection pool exhausted",
               exc + f"RuntimeError: connection pool exhausted: {pool + 3} in flight, "
                     f"pool_size={pool}",
               lambda r: body(r, in_flight=r.randint(pool + 1, defaults.pool_size - 1)),
               status=503),
        Change("config", "config/settings.yaml",
               [("strict_validation: false\n", "strict_validation: true\n")],
               "Turn on strict request validation", "strict_validation is on",
               exc + "ValueError: unknown field 'gift_note' (strict_validation is on)",
               lambda r: body(r, gift_note="happy birthday"), fields={"client": "web"}),
    ]
    return rng.choice(options)
