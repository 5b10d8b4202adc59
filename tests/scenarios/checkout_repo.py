"""The demo's checkout service: ten commits, one of which (`culprit`, "Switch cart totals to
Decimal") makes express-shipping checkouts fail with `Decimal + float`. Its own tests only cover
standard shipping, so they pass before and after; `repro.py` replays a request taken from the
logs. One commit (`broken`) does not even compile and is fixed by the next: bisect skips it."""

from __future__ import annotations

from pathlib import Path

from tests.scenarios.git_repos import History

EXPECTED_FAILURE = "TypeError: unsupported operand type(s) for +: 'decimal.Decimal' and 'float'"

INIT = '"""The checkout service."""\n'

CART_FLOAT = '''"""Cart totals."""

SHIPPING_FEES = {"standard": 0}


def subtotal(items):
    """Sum of price times quantity over the cart's items."""
    return sum(float(item["price"]) * int(item["qty"]) for item in items)


def total(items, shipping="standard"):
    """What the customer pays: the items plus the shipping fee."""
    return round(subtotal(items) + SHIPPING_FEES[shipping], 2)
'''

CART_EXPRESS = CART_FLOAT.replace('SHIPPING_FEES = {"standard": 0}',
                                  'SHIPPING_FEES = {"standard": 0, "express": 9.5}')

CART_DECIMAL = '''"""Cart totals, exact to the cent."""

from decimal import Decimal

SHIPPING_FEES = {"standard": 0, "express": 9.5}
CENT = Decimal("0.01")


def subtotal(items):
    """Sum of price times quantity over the cart's items."""
    return sum((Decimal(str(item["price"])) * int(item["qty"]) for item in items), Decimal(0))


def total(items, shipping="standard"):
    """What the customer pays: the items plus the shipping fee."""
    return (subtotal(items) + SHIPPING_FEES[shipping]).quantize(CENT)
'''

APP = '''"""The checkout handler: one request body in, (status, payload) out."""

import traceback

from checkout import cart


def handle_checkout(body):
    """Answer POST /api/checkout."""
    items = body.get("items") or []
    if not items:
        return 400, {"error": "empty cart"}
    try:
        amount = cart.total(items, body.get("shipping", "standard"))
    except Exception as exc:  # the server logs the traceback and answers 500
        traceback.print_exc()
        return 500, {"error": f"{type(exc).__name__}: {exc}"}
    return 200, {"order": body.get("order"), "amount": str(amount)}
'''

APP_LOGGED = APP.replace('''    items = body.get("items") or []
''', '''    items = body.get("items") or []
    print(f"checkout: {len(items)} item(s)")
''')

APP_BROKEN = APP_LOGGED.replace('''    if not items:
''', '''    if any(int(item.get("qty", 0)) <= 0 for item in items)
        return 400, {"error": "quantities must be positive"}
    if not items:
''')

APP_VALIDATED = APP_BROKEN.replace("for item in items)\n", "for item in items):\n")

REPRO = '''"""Replay one logged request against the checkout handler: exit 1 on a 5xx answer, 0 otherwise,
125 when this version cannot serve the request at all.

    python3 repro.py --request '{"method": "POST", "path": "/api/checkout", "body": {...}}'
"""

import argparse
import json
import sys

from checkout.app import handle_checkout

ROUTES = {("POST", "/api/checkout"): handle_checkout}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--request", required=True, help="the request as logged (JSON)")
    request = json.loads(parser.parse_args().request)
    route = ROUTES.get((request.get("method"), request.get("path")))
    if route is None:
        print(f"no route for {request.get('method')} {request.get('path')}", file=sys.stderr)
        return 125
    status, payload = route(request.get("body") or {})
    print(f"{request['method']} {request['path']} -> {status} {json.dumps(payload)}")
    return 1 if status >= 500 else 0


if __name__ == "__main__":
    sys.exit(main())
'''

TEST_CART = '''import unittest

from checkout import cart


class CartTest(unittest.TestCase):
    def test_subtotal_is_price_times_quantity(self):
        items = [{"price": "2.50", "qty": 2}, {"price": "1.00", "qty": 1}]
        self.assertEqual(cart.subtotal(items), 6)

    def test_standard_shipping_is_free(self):
        self.assertEqual(cart.total([{"price": "4.00", "qty": 1}]), 4)


if __name__ == "__main__":
    unittest.main()
'''

_FREE_SHIPPING = '''        self.assertEqual(cart.total([{"price": "4.00", "qty": 1}]), 4)
'''
TEST_CART_DECIMAL = TEST_CART.replace(_FREE_SHIPPING, _FREE_SHIPPING + '''
    def test_totals_are_exact_to_the_cent(self):
        self.assertEqual(str(cart.total([{"price": "0.10", "qty": 3}])), "0.30")
''')

TEST_APP = '''import unittest

from checkout.app import handle_checkout


class CheckoutTest(unittest.TestCase):
    def test_a_cart_is_charged(self):
        status, payload = handle_checkout({"order": 7, "items": [{"price": "3.00", "qty": 2}]})
        self.assertEqual(status, 200)
        self.assertEqual(float(payload["amount"]), 6.0)

    def test_an_empty_cart_is_refused(self):
        self.assertEqual(handle_checkout({"items": []})[0], 400)


if __name__ == "__main__":
    unittest.main()
'''

MAIL = '''"""Order confirmation e-mails."""

TEMPLATE = """Thank you for your order {order}.

Total: {amount}
"""


def confirmation(order, amount):
    """The text of the confirmation e-mail."""
    return TEMPLATE.format(order=order, amount=amount)
'''

README = "# checkout\n\nCart totals and the checkout handler. Tests: `python3 -m unittest`.\n"
README_MORE = README + "\nIncidents: `python3 repro.py --request '<logged request JSON>'`.\n"
LABELS = '"""Shipping option labels shown at checkout."""\n\nLABELS = {"standard": "Standard", ' \
         '"express": "Express"}\n'
LABELS_RENAMED = LABELS.replace('"Express"', '"Express (1-2 days)"')


def build(path: Path) -> History:
    """Write the history into a new repository at `path`."""
    h = History.new(path)
    h.commit("initial", "Checkout service: cart totals and the checkout handler", "mara",
             "2026-11-10T09:00:00+00:00",
             {"checkout/__init__.py": INIT, "checkout/cart.py": CART_FLOAT,
              "checkout/app.py": APP, "tests/__init__.py": "", "tests/test_cart.py": TEST_CART,
              "tests/test_app.py": TEST_APP, "README.md": README})
    h.commit("repro", "Add repro.py: replay a logged request against the handler", "kim",
             "2026-11-11T10:30:00+00:00", {"repro.py": REPRO, "README.md": README_MORE})
    h.commit("express", "Express shipping option", "kim", "2026-11-12T14:00:00+00:00",
             {"checkout/cart.py": CART_EXPRESS, "checkout/shipping.py": LABELS})
    h.commit("good", "Add order confirmation e-mail template", "mara",
             "2026-11-18T16:20:00+00:00", {"checkout/mail.py": MAIL})
    h.commit("logging", "Log the cart size on checkout", "kim", "2026-11-19T13:05:00+00:00",
             {"checkout/app.py": APP_LOGGED})
    h.commit("culprit", "Switch cart totals to Decimal", "lee", "2026-11-19T17:45:00+00:00",
             {"checkout/cart.py": CART_DECIMAL, "tests/test_cart.py": TEST_CART_DECIMAL})
    h.commit("broken", "Validate item quantities", "kim", "2026-11-20T08:10:00+00:00",
             {"checkout/app.py": APP_BROKEN})
    h.commit("fixed", "Fix the syntax of the quantity check", "kim", "2026-11-20T08:40:00+00:00",
             {"checkout/app.py": APP_VALIDATED})
    h.commit("labels", "Rename the express shipping label", "ana", "2026-11-20T09:50:00+00:00",
             {"checkout/shipping.py": LABELS_RENAMED})
    h.commit("bad", "Release 2026.11.20", "lee", "2026-11-20T11:00:00+00:00",
             {"README.md": README_MORE + "\nRelease 2026.11.20: exact Decimal totals.\n"})
    return h


def failing_request(order: int, rng_value: int) -> dict[str, object]:
    """The request a failing checkout logged: an express-shipping cart."""
    skus = [("MUG-01", "12.50"), ("TEE-02", "19.99"), ("CAP-03", "14.00"), ("PEN-04", "2.25")]
    items = [{"sku": sku, "price": price, "qty": 1 + (rng_value + i) % 3}
             for i, (sku, price) in enumerate(skus[: 1 + rng_value % 3])]
    return {"method": "POST", "path": "/api/checkout",
            "body": {"order": order, "items": items, "shipping": "express"}}
