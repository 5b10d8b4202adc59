"""The source of a world's tiny service (`PKG` is replaced by its package name): a quote handler
whose every branch one regression or one configuration change can break."""

from __future__ import annotations

LOGIC = '''"""Quotes: price a request's items in its currency."""

from PKG import config, settings

RATES = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79}
FEES = {"standard": 0, "express": 9.5}
KNOWN = {"items", "currency", "locale", "shipping", "coupon", "in_flight", "upstream_ms"}


def _qty(item):
    """A quantity as clients send it ("2", 2 or "2.0")."""
    return int(float(item["qty"]))


def _subtotal(items):
    """Price times quantity, summed."""
    return sum(float(item["price"]) * _qty(item) for item in items)


def process(body):
    """The quote for one request body."""
    conf = settings.load()
    if conf["strict_validation"] and set(body) - KNOWN:
        raise ValueError(f"unknown field {sorted(set(body) - KNOWN)[0]!r} (strict_validation is on)")
    items = body.get("items") or []
    if len(items) > config.MAX_ITEMS:
        raise ValueError(f"batch of {len(items)} items exceeds MAX_ITEMS={config.MAX_ITEMS}")
    in_flight = int(body.get("in_flight", 1))
    if in_flight > conf["pool_size"]:
        raise RuntimeError(f"connection pool exhausted: {in_flight} in flight, "
                           f"pool_size={conf['pool_size']}")
    waited_ms = int(body.get("upstream_ms", 40))
    if waited_ms > config.UPSTREAM_TIMEOUT_SECONDS * 1000:
        raise TimeoutError(f"upstream call timed out after {config.UPSTREAM_TIMEOUT_SECONDS}s")
    locale = body.get("locale", config.DEFAULT_LOCALE)
    currency = body.get("currency", "USD")
    code = (body.get("coupon") or "").strip().upper()
    subtotal = _subtotal(items)
    average = subtotal / len(items) if items else 0
    total = subtotal * RATES.get(currency, 1.0) + FEES[body.get("shipping", "standard")]
    return {"total": round(total, 2), "average": round(average, 2), "currency": currency,
            "locale": locale, "coupon": code or None}
'''

CONFIG = '''"""Defaults of the PKG service."""

UPSTREAM_TIMEOUT_SECONDS = @TIMEOUT@
MAX_ITEMS = @MAXITEMS@
DEFAULT_LOCALE = "en"
'''

SETTINGS_YAML = '''# Runtime settings of the PKG service (read at start-up).
pool_size: @POOLSIZE@
strict_validation: false
log_level: info
'''

SETTINGS = '''"""Runtime settings from config/settings.yaml (flat `key: value` lines)."""

from pathlib import Path

PATH = Path(__file__).resolve().parent.parent / "config" / "settings.yaml"


def _value(text):
    text = text.strip()
    if text in ("true", "false"):
        return text == "true"
    return int(text) if text.isdigit() else text


def load():
    """The settings as a dict."""
    pairs = (line.split(":", 1) for line in PATH.read_text().splitlines()
             if line.strip() and not line.startswith("#"))
    return {key.strip(): _value(value) for key, value in pairs}
'''

HANDLERS = '''"""The HTTP layer: one request in, (status, payload) out."""

import traceback

from PKG import logic


def handle(request):
    """Answer POST /api/SVC/quote."""
    body = request.get("body") or {}
    try:
        return 200, logic.process(body)
    except Exception as exc:  # the server logs the traceback and answers 500
        traceback.print_exc()
        return 500, {"error": f"{type(exc).__name__}: {exc}"}
'''

REPRO = '''"""Replay one logged request against the handler: exit 1 on a 5xx answer, else 0."""

import argparse
import json
import sys

from PKG.handlers import handle


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--request", required=True, help="the request as logged (JSON)")
    request = json.loads(parser.parse_args().request)
    if not isinstance(request, dict):
        print("cannot replay this request here", file=sys.stderr)
        return 125
    status, payload = handle(request)
    print(f"{request.get('method')} {request.get('path')} -> {status} {json.dumps(payload)}")
    return 1 if status >= 500 else 0


if __name__ == "__main__":
    sys.exit(main())
'''

TESTS = '''import unittest

from PKG.handlers import handle

ITEMS = [{"price": "12.50", "qty": 2}, {"price": "3.00", "qty": 1}]


class QuoteTest(unittest.TestCase):
    def test_a_quote_in_dollars(self):
        status, payload = handle({"body": {"items": ITEMS, "currency": "USD", "locale": "en",
                                           "coupon": "SPRING"}})
        self.assertEqual(status, 200)
        self.assertEqual(payload["total"], 28.0)

    def test_a_quote_in_pounds(self):
        status, payload = handle({"body": {"items": ITEMS, "currency": "GBP", "locale": "en-GB",
                                           "coupon": "SPRING"}})
        self.assertEqual(status, 200)
        self.assertEqual(payload["currency"], "GBP")


if __name__ == "__main__":
    unittest.main()
'''

FORMATTING = '''"""Formatting helpers for PKG responses."""


def money(amount, currency):
    """`12.50 USD`."""
    return f"{amount:.2f} {currency}"
'''

FORMATTING_TEST = '''import unittest

from PKG.formatting import money


class MoneyTest(unittest.TestCase):
    def test_two_decimals(self):
        self.assertEqual(money(3, "EUR"), "3.00 EUR")


if __name__ == "__main__":
    unittest.main()
'''


def source(template: str, pkg: str, service: str, **values: object) -> str:
    """A template with its package, service and `@VALUE@` placeholders filled in."""
    text = template.replace("PKG", pkg).replace("SVC", service)
    for key, value in values.items():
        text = text.replace(f"@{key.upper()}@", str(value))
    return text
