"""The planted-secrets corpus: secrets and personal data of many kinds, each in a realistic position.

Values are generated from a fixed seed in the vendors' documented shapes, so they are distinctive
(finding one anywhere is a leak) without being real credentials.
"""

from __future__ import annotations

import base64
import json
import random
import string
from dataclasses import dataclass

from triage.analysis.redaction_rules import shannon_entropy

_RNG = random.Random(20261120)
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
UPPER_DIGITS = string.ascii_uppercase + string.digits
URLSAFE = ALNUM + "-_"


def tok(size: int, alphabet: str = ALNUM) -> str:
    """A random string of `size` characters drawn from `alphabet` (seeded: same every run)."""
    return "".join(_RNG.choice(alphabet) for _ in range(size))


def _aws_secret() -> str:
    while True:
        value = tok(40, B64)
        if (shannon_entropy(value) >= 4.3 and value.count("/") <= 3
                and any(c.isupper() for c in value) and any(c.islower() for c in value)
                and any(c.isdigit() for c in value)):
            return value


def _pem(label: str) -> tuple[str, tuple[str, ...]]:
    lines = tuple(tok(64, B64) for _ in range(4))
    body = "\n".join(lines)
    return f"-----BEGIN {label}-----\n{body}\n{tok(24, B64)}==\n-----END {label}-----", lines


@dataclass(frozen=True)
class Plant:
    """One planted value: what it must be reported as, and the text it hides in."""

    kind: str
    position: str
    text: str
    secrets: tuple[str, ...]

    @property
    def id(self) -> str:
        """A readable test id."""
        return f"{self.kind}@{self.position}"


def _p(kind: str, position: str, template: str, secret: str) -> Plant:
    """A plant whose `template` holds the secret where `{s}` stands."""
    return Plant(kind, position, template.replace("{s}", secret), (secret,))


def _json(kind: str, position: str, document: dict[str, object], secret: str) -> Plant:
    """A plant inside a JSON document (the secret somewhere among its values)."""
    return Plant(kind, position, json.dumps(document), (secret,))


def _keys() -> list[Plant]:
    rsa, rsa_lines = _pem("RSA PRIVATE KEY")
    ossh, ossh_lines = _pem("OPENSSH PRIVATE KEY")
    ec, ec_lines = _pem("EC PRIVATE KEY")
    gcp, gcp_lines = _pem("PRIVATE KEY")
    return [
        Plant("private-key", "multi-line PEM", f"loaded key:\n{rsa}\nfrom vault", rsa_lines),
        Plant("private-key", "multi-line OpenSSH", ossh, ossh_lines),
        Plant("private-key", "log message", f"ssl: cannot parse {ec} (bad passphrase?)", ec_lines),
        Plant("private-key", "JSON with escaped newlines",
              json.dumps({"type": "service_account", "private_key": gcp}), gcp_lines),
    ]


def _jwt() -> str:
    header, claims = '{"alg":"HS256","typ":"JWT"}', f'{{"sub":"{tok(10)}","iat":1763646600}}'
    encoded = [base64.urlsafe_b64encode(part.encode()).decode().rstrip("=") for part in (header, claims)]
    return ".".join([*encoded, tok(43, URLSAFE)])


def _vendors() -> list[Plant]:
    digits = string.digits
    return [
        _p("aws-access-key-id", "log message", "boto3 client init key_id {s} region=eu-west-1",
           "AKIA" + tok(16, UPPER_DIGITS)),
        _p("aws-secret-key", "ini file", "[default]\naws_secret_access_key = {s}\n", _aws_secret()),
        _p("aws-secret-key", "log message (unlabelled)", "signing with {s} for s3 upload", _aws_secret()),
        _p("aws-session-token", "JSON value", '{"AWS_SESSION_TOKEN": "{s}"}', tok(120, B64)),
        _p("github-token", "URL user", "git clone https://{s}@github.com/acme/checkout.git",
           "ghp_" + tok(36)),
        _p("github-token", "header", "Authorization: token {s}", "gho_" + tok(36)),
        _p("github-token", "environment", "GITHUB_TOKEN={s} make release", "ghs_" + tok(36)),
        _p("github-token", "JSON value", '{"token": "{s}"}', "github_pat_" + tok(22) + "_" + tok(59)),
        _p("gitlab-token", "query string", "GET /api/v4/projects?private_token={s} 401",
           "glpat-" + tok(20, URLSAFE)),
        _p("slack-token", "log message", "slack post failed token={s}",
           f"xoxb-{tok(12, digits)}-{tok(13, digits)}-{tok(24)}"),
        _p("slack-token", "JSON value", '{"slack": {"user_token_value": "{s}"}}',
           f"xoxp-{tok(12, digits)}-{tok(12, digits)}-{tok(32, HEX)}"),
        _p("slack-webhook", "config URL", "notify_url: https://hooks.slack.com/services/{s}",
           f"T{tok(8, UPPER_DIGITS)}/B{tok(8, UPPER_DIGITS)}/{tok(24)}"),
        _p("discord-webhook", "URL", "POST https://discord.com/api/webhooks/{s} 429",
           f"{tok(18, digits)}/{tok(68, URLSAFE)}"),
        _p("stripe-key", "exception text",
           "stripe.error.AuthenticationError: Invalid API Key provided: {s}", "sk_live_" + tok(24)),
        _p("stripe-key", "environment", "STRIPE_RESTRICTED={s}", "rk_live_" + tok(24)),
        _p("stripe-webhook-secret", "header", "Stripe-Webhook-Secret: {s}", "whsec_" + tok(32)),
        _p("sendgrid-api-key", "log message", "sendgrid: using key {s} for order mail",
           f"SG.{tok(22, URLSAFE)}.{tok(43, URLSAFE)}"),
        _p("mailgun-api-key", "curl command", "curl -s --user 'api:{s}' https://api.mailgun.net/v3",
           "key-" + tok(32, HEX)),
        _p("twilio-api-key", "log message", "twilio client api_key_sid {s} region us1",
           "SK" + tok(32, HEX)),
        _p("twilio-auth-token", "environment", "TWILIO_AUTH_TOKEN={s}", tok(32, HEX)),
        _p("google-api-key", "query string",
           "GET https://maps.googleapis.com/maps/api/geocode/json?address=x&key={s}",
           "AIza" + tok(35, URLSAFE)),
        _p("google-oauth-secret", "JSON value", '{"installed": {"client_id_secret_value": "{s}"}}',
           "GOCSPX-" + tok(28, URLSAFE)),
        _p("google-oauth-token", "header", "Authorization: Bearer {s}", "ya29." + tok(60, URLSAFE)),
        _p("openai-api-key", "exception text",
           "openai.AuthenticationError: Incorrect API key provided: {s}", "sk-proj-" + tok(48)),
        _p("openai-api-key", "environment", "export OPENAI_API_KEY={s}", "sk-" + tok(48)),
        _p("anthropic-api-key", "header", "x-api-key: {s}", "sk-ant-api03-" + tok(93, URLSAFE) + "AA"),
        _p("huggingface-token", "log message", "downloading model with {s}", "hf_" + tok(34)),
        _p("digitalocean-token", "environment", "DIGITALOCEAN_ACCESS={s}", "dop_v1_" + tok(64, HEX)),
        _p("databricks-token", "log message", "databricks host=x using {s}", "dapi" + tok(32, HEX)),
        _p("docker-hub-token", "shell command",
           "echo {s} | docker login -u acme --password-stdin", "dckr_pat_" + tok(27, URLSAFE)),
        _p("grafana-token", "log message", "grafana provisioning with {s}",
           "glsa_" + tok(32) + "_" + tok(8, HEX)),
        _p("telegram-bot-token", "URL path", "https://api.telegram.org/bot{s}/sendMessage",
           f"{tok(9, digits)}:AA{tok(33, URLSAFE)}"),
        _p("pypi-token", "ini file", "[pypi]\nusername = __token__\npassword = {s}",
           "pypi-AgEIcHlwaS5vcmc" + tok(60, URLSAFE)),
        _p("shopify-token", "header", "X-Shopify-Access-Token: {s}", "shpat_" + tok(32, HEX)),
        _p("npm-token", ".npmrc", "//registry.npmjs.org/:_authToken={s}", "npm_" + tok(36)),
        _p("sentry-token", "environment", "SENTRY_AUTH={s}", "sntrys_" + tok(40)),
        _p("datadog-api-key", "environment", "DD_API_KEY={s} DD_SITE=datadoghq.eu", tok(32, HEX)),
        _p("datadog-app-key", "header", "DD-APPLICATION-KEY: {s}", tok(40, HEX)),
        _p("pagerduty-key", "YAML", "pagerduty_api_token: {s}\n", tok(20, URLSAFE)),
        _p("pagerduty-key", "JSON value", '{"routing_key": "{s}", "event_action": "trigger"}', tok(32, HEX)),
        _p("azure-key", "connection string", "DefaultEndpointsProtocol=https;AccountName=acme;"
           "AccountKey={s};EndpointSuffix=core.windows.net", tok(86, B64) + "=="),
        _p("azure-key", "service bus string", "Endpoint=sb://acme.servicebus.windows.net/;"
           "SharedAccessKeyName=send;SharedAccessKey={s}", tok(43, B64) + "="),
        _p("signature", "SAS URL",
           "GET https://acme.blob.core.windows.net/c/b.csv?sv=2022-11-02&ss=b&sp=r&sig={s} 403",
           tok(40) + "%3D"),
    ]


def _http_and_urls() -> list[Plant]:
    jwt = _jwt()
    return [
        _p("jwt", "header", "Authorization: Bearer {s}", jwt),
        _p("jwt", "query string", "GET /callback?id_token={s}&state=abc 302", jwt),
        _p("bearer-token", "header", "Authorization: Bearer {s}", tok(32)),
        _p("bearer-token", "log message", "retrying with Bearer {s} after 401", tok(40, URLSAFE)),
        _p("basic-auth", "header", "Proxy-Authorization: Basic {s}",
           base64.b64encode(f"svc-{tok(6)}:{tok(14)}".encode()).decode()),
        _p("basic-auth", "log message", "upstream rejected Basic {s}",
           base64.b64encode(f"admin:{tok(12)}".encode()).decode()),
        _p("authorization", "header", "authorization: SSWS {s}", "00" + tok(40, URLSAFE)),
        _p("cookie", "header", "Cookie: sessionid={s}; theme=dark", tok(32, HEX)),
        _p("url-password", "PostgreSQL DSN", "connecting to postgres://app:{s}@db.internal:5432/orders",
           _pw()),
        _p("url-password", "MySQL URL", "DATABASE_URL=mysql://root:{s}@mysql:3306/shop", _pw()),
        _p("url-password", "MongoDB SRV URL", '{"uri": "mongodb+srv://svc:{s}@cluster0.example.net/db"}',
           _pw()),
        _p("url-password", "Redis URL without user", "redis://:{s}@cache:6379/0 unreachable", _pw()),
        _p("url-password", "AMQP URL", "amqp://guest:{s}@rabbit// closed", _pw()),
        _p("url-password", "HTTPS URL", "fetch https://deploy:{s}@artifacts.acme.io/x.tgz failed", _pw()),
        _p("url-password", "Go MySQL DSN", "dsn=app:{s}@tcp(db:3306)/orders?parseTime=true", _pw()),
        _p("url-token", "Sentry DSN", "SENTRY_DSN=https://{s}@o450123.ingest.sentry.io/5512345",
           tok(32, HEX)),
    ]


def _labelled() -> list[Plant]:
    return [
        _p("password", "log message", "login retry user=bob password={s} attempt=3", _pw()),
        _p("password", "libpq keyword DSN", "host=db port=5432 user=app password={s} dbname=orders", _pw()),
        _p("password", "YAML", "database:\n  db_password: {s}\n", _pw()),
        _p("password", "XML element", "<datasource><user>app</user><password>{s}</password></datasource>",
           _pw()),
        _p("password", "command-line flag", "psql --host db --password {s} -c 'select 1'", _pw()),
        _p("password", "Ruby hash", "connect(:host => 'db', :password => '{s}')", _pw()),
        _p("password", "environment", "PGPASSWORD={s} pg_dump orders", _pw()),
        _p("password", "Python repr", "settings={'user': 'app', 'db_pass': '{s}'}", _pw()),
        _p("secret", "YAML", "oauth:\n  client_secret: {s}\n", tok(24)),
        _json("secret", "JSON inside a JSON string",
              {"msg": json.dumps({"client_secret": (cs := tok(24) + " " + tok(8))})}, cs),
        _p("token", "query string", "GET /v1/orders?limit=10&access_token={s} 200", tok(40, URLSAFE)),
        _p("api-key", "JSON value", '{"apiKey": "{s}", "region": "eu"}', tok(32)),
        _p("api-key", "header", "X-Api-Key: {s}", tok(32)),
        _p("api-key", "query string", "GET /search?q=shoes&api_key={s}", tok(28)),
        _p("credential", "INI", "credentials = {s}", tok(30)),
    ]


def _personal() -> list[Plant]:
    return [
        _p("email", "log message", "password reset mail sent to {s}", "jane.doe+shop@example.co.uk"),
        _p("email", "CSV cell", "1042,{s},pending,19.99", "oliver.brown@acme-mail.com"),
        _p("email", "URL-encoded query string", "GET /unsubscribe?email={s} 200", "kim.lee%40example.org"),
        _p("email", "HTML mailto", '<a href="mailto:{s}">mail us</a>', "support.lead@shop.example"),
        _p("payment-card", "log message", "charge declined card={s} amount=42.00", "4111111111111111"),
        _p("payment-card", "CSV cell", "7,{s},EUR", "5555 5555 5555 4444"),
        _p("payment-card", "JSON value", '{"pan": "{s}", "exp": "12/29"}', "3782-822463-10005"),
        _p("payment-card", "query string", "POST /pay?number={s}&cvc=123", "6011000990139424"),
        _p("phone", "log message", "SMS to {s} failed", "+44 20 7946 0958"),
        _p("phone", "JSON value", '{"contact": "{s}"}', "+1 (415) 555-2671"),
        _p("phone", "E.164 in CSV", "9,{s},sms", "+14155552671"),
        _p("phone", "North American format", "callback requested at {s} by customer", "415-555-0199"),
        _p("phone", "labelled national format", "phone: {s}", "020 7946 0958"),
        _p("phone", "German format", "Rückruf an {s}", "+49 30 901820"),
    ]


def _pw() -> str:
    return f"{tok(10)}-{tok(6)}"


PLANTS: list[Plant] = [*_vendors(), *_keys(), *_http_and_urls(), *_labelled(), *_personal()]


def _more() -> list[Plant]:
    from tests.analysis.redaction_corpus_more import more_plants  # it builds on this module

    return more_plants()


PLANTS += _more()


def every_secret() -> list[str]:
    """Every planted value, for leak checks over whole documents."""
    return [secret for plant in PLANTS for secret in plant.secrets]
