"""Source files of the tiny service repositories (`PKG` is the service's package name)."""

REPRO_HTTP = '''"""Replay one logged request against the handler: exit 1 when it answers 5xx."""

import argparse
import json
import sys

from PKG.app import HANDLER


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--request", required=True, help="the request as logged (JSON)")
    request = json.loads(parser.parse_args().request)
    status, body = HANDLER(request)
    print(f"{request.get('method', 'GET')} {request.get('path')} -> {status} {json.dumps(body)}")
    return 1 if status >= 500 else 0


if __name__ == "__main__":
    sys.exit(main())
'''

PRICING_APP = '''"""POST /v2/quote -> (status, body)."""

import traceback

from PKG import coupons, tax

PRICES = {f"sku-{n}": 5 + (n * 37) % 200 for n in range(100, 1000)}


def handle_quote(request):
    """Price a basket line: list price, coupon, VAT."""
    body = request.get("body") or {}
    sku = body.get("sku")
    if sku not in PRICES:
        return 404, {"error": "unknown sku"}
    try:
        net = PRICES[sku] * int(body.get("qty", 1))
        net = coupons.apply(net, body.get("coupon"))
        total = net + tax.vat(net, body.get("country", "US"))
        return 200, {"sku": sku, "total": round(total, 2)}
    except Exception as exc:  # Django would log "Internal Server Error" with the traceback
        traceback.print_exc()
        return 500, {"error": type(exc).__name__}
'''

COUPONS_V1 = '''"""Coupons: none yet."""


def apply(net, code):
    """The net price after a coupon."""
    return net
'''

COUPONS_V2 = '''"""Percentage coupons, by campaign prefix (`WELCOME-…`, `VIP`)."""

PERCENT = {"WELCOME": 10, "SPRING": 15, "VIP": 20}


def apply(net, code):
    """The net price after a coupon."""
    if not code:
        return net
    prefix = code.upper().split("-")[0]
    return net * (100 - PERCENT.get(prefix, 0)) / 100
'''

COUPONS_V3 = '''"""Percentage coupons, by campaign prefix; a numeric suffix adds tier percent."""

PERCENT = {"WELCOME": 10, "SPRING": 15, "VIP": 20}


def apply(net, code):
    """The net price after a coupon."""
    if not code:
        return net
    prefix, _, suffix = code.upper().partition("-")
    tier = int(suffix) if suffix else 0
    return net * (100 - PERCENT.get(prefix, 0) - tier) / 100
'''

TAX_V1 = '''"""VAT by country."""

RATES = {"US": 0.0, "DE": 0.19, "FR": 0.2}


def vat(net, country):
    """VAT on a net amount."""
    return net * RATES.get(country, 0.0)
'''

TAX_V2 = TAX_V1.replace('"FR": 0.2}', '"FR": 0.2, "SE": 0.25, "NO": 0.25, "DK": 0.25, "FI": 0.255}')

TIMING = '''"""Quote timings for the access log."""

import time


class Timer:
    """Milliseconds since construction."""

    def __init__(self):
        self.start = time.monotonic()

    def ms(self):
        return round((time.monotonic() - self.start) * 1000)
'''

PRICING_TESTS = """import unittest

from PKG.app import handle_quote


class QuoteTest(unittest.TestCase):
    def test_list_price(self):
        self.assertEqual(handle_quote({"body": {"sku": "sku-100", "qty": 1}})[0], 200)

    def test_vip_coupon_discounts(self):
        plain = handle_quote({"body": {"sku": "sku-200"}})[1]["total"]
        vip = handle_quote({"body": {"sku": "sku-200", "coupon": "VIP"}})[1]["total"]
        self.assertLess(vip, plain)

    def test_unknown_sku(self):
        self.assertEqual(handle_quote({"body": {"sku": "nope"}})[0], 404)


if __name__ == "__main__":
    unittest.main()
"""

ORDERS_DB = '''"""The orders database as the handler sees it; every call is one SQL query, counted."""

QUERIES = []


def _orders(customer):
    return [{"id": customer * 1000 + i, "total": 10 + i} for i in range(customer % 90 + 40)]


def _items(order_id):
    return [{"sku": f"sku-{order_id % 900 + 100}", "qty": 1 + order_id % 3}]


def orders_with_items(customer):
    """SELECT o.*, i.* FROM orders o JOIN line_items i ON … WHERE o.customer_id = %s"""
    QUERIES.append("orders_with_items")
    return [{**o, "items": _items(o["id"])} for o in _orders(customer)]


def orders_of(customer):
    """SELECT * FROM orders WHERE customer_id = %s"""
    QUERIES.append("orders_of")
    return _orders(customer)


def items_of(order_id):
    """SELECT * FROM line_items WHERE order_id = %s"""
    QUERIES.append("items_of")
    return _items(order_id)
'''

ORDERS_APP_V1 = '''"""GET /api/orders?customer=ID&limit=N -> (status, body)."""

from urllib.parse import parse_qs, urlsplit

from PKG import db


def handle(request):
    """A customer's order history with line items."""
    params = parse_qs(urlsplit(request["path"]).query)
    customer = int(params["customer"][0])
    limit = int(params.get("limit", ["20"])[0])
    rows = db.orders_with_items(customer)
    return 200, {"orders": rows[:limit]}
'''

ORDERS_APP_V2 = '''"""GET /api/orders?customer=ID&limit=N -> (status, body)."""

from urllib.parse import parse_qs, urlsplit

from PKG import db


def handle(request):
    """A customer's order history with line items."""
    params = parse_qs(urlsplit(request["path"]).query)
    customer = int(params["customer"][0])
    limit = int(params.get("limit", ["20"])[0])
    rows = sorted(db.orders_of(customer), key=lambda r: -r["id"])
    for row in rows:
        row["items"] = db.items_of(row["id"])
    return 200, {"orders": rows[:limit]}
'''

MONEY_V1 = '''"""Money formatting."""


def fmt(amount):
    return str(amount)
'''

MONEY_V2 = '''"""Money formatting."""


def fmt(amount):
    return f"{amount:.2f}"
'''

REPRO_QUERIES = '''"""Replay one logged request; fail when it runs more SQL than its query budget."""

import argparse
import json
import sys

from PKG import db
from PKG.app import handle

BUDGET = 10  # queries per request; the ORM's N+1 detector warns at the same figure


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--request", required=True, help="the request as logged (JSON)")
    request = json.loads(parser.parse_args().request)
    db.QUERIES.clear()
    status, body = handle(request)
    count = len(db.QUERIES)
    print(f"GET {request['path']} -> {status}, {len(body.get('orders', []))} orders, {count} queries")
    if count > BUDGET:
        print(f"AssertionError: {count} queries for one request (budget {BUDGET})")
        return 1
    return 1 if status >= 500 else 0


if __name__ == "__main__":
    sys.exit(main())
'''

ORDERS_TESTS = """import unittest

from PKG.app import handle


class HistoryTest(unittest.TestCase):
    def test_limit(self):
        status, body = handle({"path": "/api/orders?customer=7&limit=5"})
        self.assertEqual(status, 200)
        self.assertEqual(len(body["orders"]), 5)

    def test_items_included(self):
        body = handle({"path": "/api/orders?customer=8"})[1]
        self.assertTrue(all(o["items"] for o in body["orders"]))


if __name__ == "__main__":
    unittest.main()
"""

RENDER_V1 = '''"""Greetings."""


def greeting(user):
    """How a message addresses its reader."""
    return f"Hi {user['first_name']},"
'''

RENDER_V2 = '''"""Greetings."""


def greeting(user):
    """How a message addresses its reader: the preferred name when the profile has one."""
    name = user.get("preferred_name", user["first_name"]).strip()
    return f"Hi {name},"
'''

TEMPLATES_V1 = '''"""Message templates."""

TEMPLATES = {"order_confirmed": "{greeting} your order {order} is confirmed."}
'''

TEMPLATES_V2 = TEMPLATES_V1.replace(
    'confirmed."}', 'confirmed.",\n             "order_shipped": "{greeting} order {order} is on its way."}'
)

CONSUMER = '''"""The notification consumer: one queue message -> one rendered e-mail body."""

from PKG.render import greeting
from PKG.templates import TEMPLATES

PREFETCH = 10


def handle(message):
    """Render one message (raises on a message it cannot render: the process exits)."""
    template = TEMPLATES[message["template"]]
    return template.format(greeting=greeting(message["user"]), **message.get("vars", {}))
'''

REPRO_MESSAGE = '''"""Replay one consumed message as logged: exit 1 when rendering raises."""

import argparse
import json
import sys
import traceback

from PKG.consumer import handle


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--request", required=True, help="the message payload as logged (JSON)")
    message = json.loads(parser.parse_args().request)
    try:
        print(handle(message))
    except Exception:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''

NOTIFIER_TESTS = """import unittest

from PKG.consumer import handle


class RenderTest(unittest.TestCase):
    def test_confirmation(self):
        text = handle({"template": "order_confirmed", "user": {"first_name": "Ada"}, "vars": {"order": "A1"}})
        self.assertEqual(text, "Hi Ada, your order A1 is confirmed.")

    def test_unknown_template(self):
        with self.assertRaises(KeyError):
            handle({"template": "nope", "user": {"first_name": "Ada"}})


if __name__ == "__main__":
    unittest.main()
"""

SETTINGS = '''"""Service settings (defaults; the environment overrides none of these)."""

UPSTREAM_TIMEOUT_S = @TIMEOUT@  # per attempt, rates upstream
POOL_SIZE = 20
'''

UPSTREAM = '''"""The rates upstream, replayed: a recorded response time stands in for the network."""


class UpstreamTimeout(Exception):
    """The upstream did not answer within the timeout."""


def fetch_rate(pair, latency_ms, timeout_s):
    """The rate for a currency pair, or a timeout when the upstream is slower than allowed."""
    if latency_ms / 1000 > timeout_s:
        raise UpstreamTimeout(f"rates upstream did not answer within {timeout_s * 1000:.0f}ms")
    return 1.0 + (sum(map(ord, pair)) % 50) / 100
'''

GATEWAY_APP = '''"""GET /v1/convert?from=EUR&to=USD&amount=N -> (status, body)."""

import sys
from urllib.parse import parse_qs, urlsplit

from PKG import settings, upstream


def handle(request):
    """Convert an amount at the upstream's rate."""
    query = parse_qs(urlsplit(request["path"]).query)
    pair = query["from"][0] + query["to"][0]
    amount = float(query["amount"][0])
    try:
        rate = upstream.fetch_rate(pair, float(request.get("upstream_ms", 40)), settings.UPSTREAM_TIMEOUT_S)
    except upstream.UpstreamTimeout as exc:
        print(f"upstream timeout: {exc}", file=sys.stderr)
        return 504, {"error": "upstream timeout"}
    return 200, {"pair": pair, "amount": round(amount * rate, 2)}
'''

RETRY_V1 = '''"""Retries: none."""

ATTEMPTS = 1
'''

RETRY_V2 = '''"""Retries: idempotent GETs get one more attempt."""

ATTEMPTS = 2
'''

LOG_IDS = '''"""Request ids for access logs."""

import uuid


def request_id():
    return uuid.uuid4().hex
'''

GATEWAY_TESTS = """import unittest

from PKG import settings
from PKG.app import handle


class ConvertTest(unittest.TestCase):
    def test_fast_upstream(self):
        status, body = handle({"path": "/v1/convert?from=EUR&to=USD&amount=10", "upstream_ms": 30})
        self.assertEqual(status, 200)
        self.assertGreater(body["amount"], 10)

    def test_slow_upstream_times_out(self):
        slow = settings.UPSTREAM_TIMEOUT_S * 1000 + 1
        request = {"path": "/v1/convert?from=EUR&to=USD&amount=1", "upstream_ms": slow}
        self.assertEqual(handle(request)[0], 504)


if __name__ == "__main__":
    unittest.main()
"""

CARRIER = '''"""The carrier's rate API; the sandbox answers from its published rate card."""

RATES = {"ground": 7.9, "express": 19.5}


def rate(level, weight_kg):
    """The carrier's price for one parcel."""
    return round(RATES[level] + 0.8 * weight_kg, 2)
'''

CARRIER_APP = '''"""POST /v1/quotes -> (status, body)."""

from PKG import carrier

LEVELS = ("ground",)


def handle(request):
    """Quote a parcel at every service level we sell."""
    body = request.get("body") or {}
    weight = float(body.get("weight_kg", 1))
    if weight <= 0 or weight > 70:
        return 422, {"error": "weight out of range"}
    return 200, {"quotes": {level: carrier.rate(level, weight) for level in LEVELS}}
'''

LOGOS = '''"""Carrier logos for quote responses."""

LOGOS = {"ground": "/static/carriers/ground.svg", "express": "/static/carriers/express.svg"}
'''

CARRIER_TESTS = """import unittest

from PKG.app import handle


class QuoteTest(unittest.TestCase):
    def test_ground(self):
        status, body = handle({"body": {"weight_kg": 2}})
        self.assertEqual(status, 200)
        self.assertIn("ground", body["quotes"])

    def test_too_heavy(self):
        self.assertEqual(handle({"body": {"weight_kg": 500}})[0], 422)


if __name__ == "__main__":
    unittest.main()
"""
