"""More planted kinds: the ones an independent corpus found unredacted (Datadog and PagerDuty keys in
free text, JWTs, Twilio SIDs and tokens, US SSNs, Heroku API keys, `.pgpass` lines, IBANs), and
prefixed vendor tokens; values come from the same seeded generator as the main corpus."""

from __future__ import annotations

import jwt
from stdnum import iban

from tests.analysis.redaction_corpus import ALNUM, HEX, URLSAFE, Plant, _p, tok

UPPER_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"


def _uuid() -> str:
    value = tok(32, HEX)
    return f"{value[:8]}-{value[8:12]}-4{value[13:16]}-a{value[17:20]}-{value[20:]}"


def _ssn() -> str:
    # Valid SSA shape: area 001-665 or 667-899, group 01-99, serial 0001-9999.
    area = 100 + int(tok(3, "0123456789")) % 565
    return f"{area:03d}-{1 + int(tok(2, '0123456789')) % 99:02d}-{1 + int(tok(4, '0123456789')) % 9999:04d}"


def _iban(country: str, bban: str) -> str:
    number = f"{country}00{bban}"
    return f"{country}{iban.calc_check_digits(number)}{bban}"


def _grouped(value: str) -> str:
    return " ".join(value[i:i + 4] for i in range(0, len(value), 4))


def _jwt() -> str:
    claims = {"sub": f"user-{tok(8)}", "scope": "orders:read", "exp": 1893456000}
    return jwt.encode(claims, tok(32), algorithm="HS256")


def _pw() -> str:
    return f"{tok(9)}-{tok(7)}"


def more_plants() -> list[Plant]:
    """The added plants (each kind named as the redactor reports it)."""
    digits = "0123456789"
    return [
        _p("datadog-api-key", "free text", "datadog api key {s} rejected (403 Forbidden)", tok(32, HEX)),
        _p("datadog-api-key", "header", "DD-API-KEY: {s}", tok(32, HEX)),
        _p("datadog-api-key", "agent log", "datadog agent: forwarder got 403 for {s}", tok(32, HEX)),
        _p("datadog-app-key", "free text", "dd application key {s} is invalid", tok(40, HEX)),
        _p("datadog-app-key", "YAML", "datadog_app_key: {s}\n", tok(40, HEX)),
        _p("pagerduty-key", "REST token in free text", "PagerDuty REST API token {s} returned 401",
           tok(20, URLSAFE)),
        _p("pagerduty-key", "user token", "pd client using u+{s}", tok(18, ALNUM)),
        _p("jwt", "free text", "session {s} expired at 13:41", _jwt()),
        _p("jwt", "JSON value", '{"id_token": "{s}", "expires_in": 3600}', _jwt()),
        _p("jwt", "unsigned", "accepted alg=none token {s} from client", _jwt().rsplit(".", 1)[0] + "."),
        _p("twilio-account-sid", "log message", "twilio account {s} suspended", "AC" + tok(32, HEX)),
        _p("twilio-auth-token", "free text", "twilio auth token {s} invalid", tok(32, HEX)),
        _p("us-ssn", "log message", "kyc check failed for ssn {s} (mismatch)", _ssn()),
        _p("us-ssn", "JSON value", '{"customer": "c-1042", "tax_id": "{s}"}', _ssn()),
        _p("us-ssn", "labelled, never issued", "social security number {s} on file", "078-05-1120"),
        _p("heroku-api-key", "YAML", "heroku_key: {s}\n", _uuid()),
        _p("heroku-api-key", "CLI output", "heroku auth token is {s}", _uuid()),
        _p("pgpass", ".pgpass line", "~/.pgpass: db.prod.internal:5432:orders:app:{s}", _pw()),
        _p("pgpass", "wildcards", "pgpass entry *:*:*:replicator:{s} loaded", _pw()),
        _p("iban", "log message", "refund sent to IBAN {s} ok",
           _iban("DE", tok(18, digits))),
        _p("iban", "grouped, CSV cell", "77,{s},EUR,19.99",
           _grouped(_iban("GB", "WEST" + tok(14, digits)))),
        _p("mailchimp-api-key", "log message", "mailchimp list sync with {s} failed",
           tok(32, HEX) + "-us14"),
        _p("square-oauth-secret", "environment", "SQUARE_OAUTH={s}", "sq0csp-" + tok(43, URLSAFE)),
        _p("discord-bot-token", "log message", "discord gateway login {s} rejected",
           f"M{tok(23, ALNUM)}.{tok(6, URLSAFE)}.{tok(27, URLSAFE)}"),
        _p("new-relic-key", "header", "X-Query-Key-Name: {s}", "NRAK-" + tok(27, UPPER_DIGITS)),
        _p("vault-token", "environment", "VAULT_ADDR=https://vault:8200 VLT={s}", "hvs." + tok(90, URLSAFE)),
        _p("age-secret-key", "key file", "# created: 2026-11-20\n{s}\n",
           "AGE-SECRET-KEY-1" + tok(58, BECH32)),
        _p("linear-api-key", "log message", "linear sync using {s}", "lin_api_" + tok(40)),
        _p("postman-api-key", "log message", "newman run with {s}",
           f"PMAK-{tok(24, HEX)}-{tok(34, HEX)}"),
        _p("doppler-token", "log message", "doppler secrets download with {s}", "dp.st." + tok(43)),
        _p("terraform-token", "credentials file", 'credentials "app.terraform.io" {{ t = "{s}" }}',
           f"{tok(14)}.atlasv1.{tok(67, URLSAFE)}"),
    ]
