"""Source files of the fresh corpus's service repositories (`PKG` is the service's package)."""

INVOICE_APP = '''"""POST /v1/invoices/render -> (status, body)."""

import traceback

from PKG import money


def handle(request):
    """Render an invoice's totals in its currency."""
    body = request.get("body") or {}
    try:
        lines = body.get("lines") or []
        net = sum(line["qty"] * line["unit"] for line in lines)
        return 200, {"total": money.display(net, body.get("currency", "USD"))}
    except Exception as exc:  # gunicorn logs the traceback, the client gets a 500
        traceback.print_exc()
        return 500, {"error": type(exc).__name__}
'''

MONEY_V1 = '''"""Amounts for display."""


def display(amount, currency):
    """`12.50 EUR`."""
    return f"{amount:.2f} {currency}"
'''

MONEY_V2 = '''"""Amounts for display, with the currency symbol where we know it."""

SYMBOLS = {"USD": "$", "EUR": "\\u20ac", "GBP": "\\u00a3", "JPY": "\\u00a5"}


def display(amount, currency):
    """`\\u20ac12.50`; unknown currencies print their code."""
    return f"{SYMBOLS.get(currency, currency + ' ')}{amount:.2f}"
'''

MONEY_V3 = '''"""Amounts for display, with the currency symbol and its position."""

SYMBOLS = {"USD": "$", "EUR": "\\u20ac", "GBP": "\\u00a3", "JPY": "\\u00a5"}
AFTER = {"EUR"}  # symbol after the amount in most euro locales


def display(amount, currency):
    """`$12.50` or `12,50 \\u20ac`."""
    symbol = SYMBOLS[currency]
    if currency in AFTER:
        return f"{amount:.2f}".replace(".", ",") + f" {symbol}"
    return f"{symbol}{amount:.2f}"
'''

PDF_META = '''"""PDF metadata."""

PRODUCER = "acme-invoices"
'''

INVOICE_TESTS = """import unittest

from PKG.app import handle


class RenderTest(unittest.TestCase):
    def test_usd(self):
        status, body = handle({"body": {"currency": "USD", "lines": [{"qty": 2, "unit": 5}]}})
        self.assertEqual(status, 200)
        self.assertIn("10.00", body["total"])

    def test_empty_invoice(self):
        self.assertEqual(handle({"body": {"currency": "GBP"}})[0], 200)


if __name__ == "__main__":
    unittest.main()
"""

CATALOG_APP = '''"""GET /v1/catalog/<category>?page=N -> (status, body), served from a shared page cache."""

from urllib.parse import parse_qs, urlsplit

from PKG import cache, origin


def handle(request):
    """One catalog page."""
    url = urlsplit(request["path"])
    category = url.path.rstrip("/").split("/")[-1]
    page = int(parse_qs(url.query).get("page", ["1"])[0])
    key = cache.key(category, page, request.get("customer"))
    hit = cache.get(key)
    if hit is None:
        hit = origin.fetch_page(category, page)
        cache.put(key, hit)
    return 200, {"category": category, "page": page, "items": hit}
'''

CACHE_V1 = '''"""The shared page cache (Redis in production; a dict here)."""

STORE = {}


def key(category, page, customer):
    """Pages are the same for everybody."""
    return f"catalog:{category}:{page}"


def get(key):
    return STORE.get(key)


def put(key, value):
    STORE[key] = value
'''

CACHE_V2 = CACHE_V1.replace(
    '"""Pages are the same for everybody."""\n    return f"catalog:{category}:{page}"',
    '"""Pages carry per-customer prices now, so the customer is part of the key."""\n'
    '    return f"catalog:{category}:{page}:{customer}"',
)

ORIGIN = '''"""The catalog database behind the cache; every call is one heavy query, counted."""

FETCHES = []


def fetch_page(category, page):
    """SELECT ... FROM products JOIN prices ... WHERE category = %s ORDER BY rank LIMIT 48 OFFSET %s"""
    FETCHES.append((category, page))
    return [f"{category}-{page}-{n}" for n in range(48)]
'''

PRICES_V1 = '''"""Price display."""


def price(item, customer):
    return 10.0
'''

PRICES_V2 = '''"""Price display: contract customers see their negotiated price."""

CONTRACT = {"c-1001": 0.9, "c-2002": 0.85}


def price(item, customer):
    return round(10.0 * CONTRACT.get(customer, 1.0), 2)
'''

REPRO_CATALOG = '''"""Replay one logged page request as a minute of real traffic (40 customers): fail when the
page cache sends more than its budget of queries to the catalog database."""

import argparse
import json
import sys

from PKG import origin
from PKG.app import handle

BUDGET = 3  # origin queries per page per minute; the cache exists so this stays at 1


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--request", required=True, help="the request as logged (JSON)")
    request = json.loads(parser.parse_args().request)
    origin.FETCHES.clear()
    for n in range(40):
        status, _ = handle({**request, "customer": f"c-{5000 + n}"})
        if status >= 500:
            return 1
    count = len(origin.FETCHES)
    print(f"GET {request['path']} x40 customers -> {count} origin queries (budget {BUDGET})")
    if count > BUDGET:
        print(f"AssertionError: {count} origin queries for one page (budget {BUDGET})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''

CATALOG_TESTS = """import unittest

from PKG.app import handle


class PageTest(unittest.TestCase):
    def test_page(self):
        status, body = handle({"path": "/v1/catalog/shoes?page=2", "customer": "c-1"})
        self.assertEqual(status, 200)
        self.assertEqual(len(body["items"]), 48)


if __name__ == "__main__":
    unittest.main()
"""

PAYOUT_TASKS_V1 = '''"""Celery task: settle one payout to the merchant's bank account."""


def settle(payout):
    """Amounts in cents for each destination account."""
    accounts = payout.get("accounts") or [payout["merchant_account"]]
    return {acct: payout["amount_cents"] for acct in accounts[:1]}
'''

PAYOUT_TASKS_V2 = '''"""Celery task: settle one payout, split across the merchant's linked accounts."""


def settle(payout):
    """Amounts in cents for each linked account (the remainder to the first)."""
    accounts = payout.get("linked_accounts", [payout["merchant_account"]])
    share = payout["amount_cents"] // len(accounts)
    out = {acct: share for acct in accounts}
    if accounts:
        out[accounts[0]] += payout["amount_cents"] - share * len(accounts)
    return out
'''

FX_V1 = '''"""Payout currency conversion."""

RATES = {"USD": 1.0, "EUR": 1.08}
'''

FX_V2 = FX_V1.replace('"EUR": 1.08}', '"EUR": 1.08, "PLN": 0.25, "CZK": 0.043}')

REPRO_TASK = '''"""Run one failed task again with the arguments it was logged with: exit 1 when it raises."""

import argparse
import json
import sys
import traceback

from PKG.tasks import settle


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--request", required=True, help="the task's kwargs as logged (JSON)")
    payout = json.loads(parser.parse_args().request)
    try:
        print(settle(payout))
    except Exception:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''

PAYOUT_TESTS = """import unittest

from PKG.tasks import settle


class SettleTest(unittest.TestCase):
    def test_single_account(self):
        self.assertEqual(settle({"amount_cents": 500, "merchant_account": "a"}), {"a": 500})

    def test_split(self):
        out = settle({"amount_cents": 1001, "merchant_account": "a", "linked_accounts": ["a", "b"]})
        self.assertEqual(sum(out.values()), 1001)


if __name__ == "__main__":
    unittest.main()
"""

UPLOAD_APP = '''"""POST /v1/uploads -> (status, body): one image to the user's region's object store."""

from PKG import store


def handle(request):
    """Store one upload."""
    body = request.get("body") or {}
    size = int(body.get("bytes", 0))
    if size <= 0 or size > 20 * 1024 * 1024:
        return 413, {"error": "size"}
    key = store.put(body.get("region", "eu-west-1"), body.get("name", "upload.jpg"), size)
    return 201, {"key": key}
'''

STORE = '''"""The object store client; the sandbox stands in for the vendor with a local table."""

BUCKETS = {"eu-west-1": "media-euw1", "us-east-1": "media-use1", "ap-southeast-1": "media-apse1"}


def put(region, name, size):
    """The stored object's key."""
    return f"{BUCKETS[region]}/{name}"
'''

PRESETS = '''"""Thumbnail presets."""

PRESETS = {"small": 160, "medium": 480, "large": 1080}
'''

UPLOAD_TESTS = """import unittest

from PKG.app import handle


class UploadTest(unittest.TestCase):
    def test_upload(self):
        status, body = handle({"body": {"bytes": 1000, "name": "a.jpg", "region": "us-east-1"}})
        self.assertEqual(status, 201)

    def test_too_big(self):
        self.assertEqual(handle({"body": {"bytes": 10**9}})[0], 413)


if __name__ == "__main__":
    unittest.main()
"""
