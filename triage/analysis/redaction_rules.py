"""The built-in redaction rules: what a secret or a piece of PII looks like, and how to confirm it.

Rules run in order, so vendor-specific shapes label a value before the generic `key=value` rules
see it; every replaced value becomes a `[redacted:<kind>]` marker that no rule matches again.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

MARKER_PREFIX = "[redacted"

# Key names that label a credential: `db_password=`, `"clientSecret":`, `X-Api-Key:`, `?sig=`.
# The keyword must end the key (an optional `_key`/`_id`... suffix aside), so `max_tokens`,
# `token_count` and `author` are not keys of secrets.
_KEYWORDS = (
    r"password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|"
    r"app(?:lication)?[_-]?key|private[_-]?key|signing[_-]?key|encryption[_-]?key|master[_-]?key|"
    r"auth[_-]?key|credentials?|signature|sig"
)
_SUFFIX = r"(?:[_.-]?(?:key|value|id|hash|b64|base64|string|str|data))?"
SECRET_KEY = rf"(?:[\w.-]*?(?:{_KEYWORDS})|(?:[\w.-]*[_.-])?pass){_SUFFIX}"
# Dict keys whose whole value is a credential (HTTP header maps, structured log fields).
SECRET_FIELD = re.compile(rf"{SECRET_KEY}|(?:proxy-)?authorization|(?:set-)?cookie", re.I)
# `key=value`, `key: value`, `"key": "value"`, `\"key\": \"value\"` (JSON inside a JSON string),
# `key => value`; the value is quoted (any characters) or bare (up to a delimiter).
_ASSIGN = r"(?P<q>\\?[\"']?)\s*(?:=>|[:=])\s*"
_VALUE = (
    r"(?:\\\"(?P<v1>(?:[^\"\\\n]|\\(?!\")[^\n])*)\\\""
    r"|\"(?P<v2>(?:[^\"\\\n]|\\.)*)\""
    r"|'(?P<v3>[^'\n]*)'"
    rf"|(?P<v4>(?!\{MARKER_PREFIX})[^\s\"'&;,<>(){{}}\[\]\\]+))"
)
# Values that name no secret: flags, empty placeholders and masks someone already applied.
_PLACEHOLDERS = frozenset({"", "true", "false", "null", "none", "nil", "undefined", "***", "****",
                           "*****", "xxx", "xxxx", "redacted", "[redacted]", "<redacted>", "-"})
_ISSUER = re.compile(
    r"^(?:4\d{12}(?:\d{3}|\d{6})?|5[1-5]\d{14}|2(?:2[2-9]\d|[3-6]\d\d|7[01]\d|720)\d{12}"
    r"|3[47]\d{13}|3(?:0[0-5]|[689]\d)\d{11,16}|6(?:011|5\d\d|4[4-9]\d)\d{12,15}"
    r"|35(?:2[89]|[3-8]\d)\d{12,15}|62\d{14,17})$"
)
_NOT_EMAIL_TLDS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "js", "css", "py"})


def marker(kind: str) -> str:
    """The text a redacted value is replaced by."""
    return f"{MARKER_PREFIX}:{kind}]"


def luhn_valid(digits: str) -> bool:
    """Whether a digit string passes the Luhn checksum that payment card numbers carry."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def shannon_entropy(text: str) -> float:
    """Bits per character: random keys score high, words and paths lower."""
    size = len(text)
    return -sum(n / size * math.log2(n / size) for n in Counter(text).values()) if size else 0.0


def _card(value: str, _m: re.Match[str]) -> bool:
    digits = re.sub(r"\D", "", value)
    # An issuer prefix and length as well as Luhn: Luhn alone passes one random number in ten.
    return bool(_ISSUER.match(digits)) and luhn_valid(digits)


def _phone(value: str, _m: re.Match[str]) -> bool:
    return 8 <= sum(c.isdigit() for c in value) <= 15


def _labelled_phone(value: str, _m: re.Match[str]) -> bool:
    return 7 <= sum(c.isdigit() for c in value) <= 15


def _email(value: str, _m: re.Match[str]) -> bool:
    # `git@github.com:org/repo` is an SSH remote, `icon@2x.png` an asset, not addresses.
    return not value.lower().startswith("git@") and value.rsplit(".", 1)[-1].lower() not in _NOT_EMAIL_TLDS


def _mixed(value: str, _m: re.Match[str]) -> bool:
    return (any(c.isupper() for c in value) and any(c.islower() for c in value)
            and any(c.isdigit() for c in value))


def _has_digit(value: str, _m: re.Match[str]) -> bool:
    return any(c.isdigit() for c in value)


def _random_40(value: str, m: re.Match[str]) -> bool:
    # Unlabelled AWS secret keys: 40 base64 characters that look random (a path or a word
    # run does not reach this entropy; hex SHAs have no capitals).
    return _mixed(value, m) and value.count("/") <= 3 and shannon_entropy(value) >= 4.3


def _basic(value: str, _m: re.Match[str]) -> bool:
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return ":" in decoded and decoded.isprintable()


def _assigned(value: str, m: re.Match[str]) -> bool:
    if value.lower() in _PLACEHOLDERS:
        return False
    # Short numbers under `token`/`key` keys are counts and ids; any password is a password.
    return not (value.isdigit() and len(value) <= 4 and kind_for_key(m["key"]) != "password")


def kind_for_key(key: str) -> str:
    """The kind a labelled value is reported as, from the name of its key."""
    name = key.lower()
    for needle, kind in (("pass", "password"), ("pwd", "password"), ("private", "private-key"),
                         ("secret", "secret"), ("token", "token"), ("cookie", "cookie"),
                         ("authorization", "authorization"), ("sig", "signature"),
                         ("credential", "credential")):
        if needle in name:
            return kind
    return "api-key"


def _kind_by_key(m: re.Match[str]) -> str:
    return kind_for_key(m["key"])


def _kind_by_scheme(m: re.Match[str]) -> str:
    scheme = (m["scheme"] or "").lower()
    return {"bearer": "bearer-token", "basic": "basic-auth"}.get(scheme, "authorization")


@dataclass(frozen=True)
class Rule:
    """One shape of secret or PII.

    `hints` are lowercase substrings one of which must occur for the rule to run at all (a cheap
    pre-filter); groups named `v*` are the spans replaced (the whole match when there are none);
    `check` confirms a candidate (checksum, entropy) and `kind_of` names it from the match;
    rules without hints skip texts shorter than `min_length`.
    """

    kind: str
    regex: re.Pattern[str]
    hints: tuple[str, ...] = ()
    check: Callable[[str, re.Match[str]], bool] | None = None
    kind_of: Callable[[re.Match[str]], str] | None = None
    min_length: int = 0
    groups: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", tuple(g for g in self.regex.groupindex if g.startswith("v")))


def _rule(kind: str, pattern: str, hints: tuple[str, ...] = (), flags: int = 0, *,
          check: Callable[[str, re.Match[str]], bool] | None = None,
          kind_of: Callable[[re.Match[str]], str] | None = None, min_length: int = 0) -> Rule:
    return Rule(kind, re.compile(pattern, flags), hints, check, kind_of, min_length)


_I = re.IGNORECASE
_LABEL_END = r"\\?[\"']?\s*[:=]\s*\\?[\"']?"

BUILTIN_RULES: tuple[Rule, ...] = (
    _rule("private-key", r"-----BEGIN[A-Z ]*PRIVATE KEY(?: BLOCK)?-----(?:.*?-----END[A-Z ]*PRIVATE "
          r"KEY(?: BLOCK)?-----|(?:[A-Za-z0-9+/=\s:,-]|\\[nr])*)", ("private key",), re.S),
    # Vendor tokens with a recognisable prefix.
    _rule("anthropic-api-key", r"\bsk-ant-[A-Za-z0-9_-]{20,}", ("sk-ant-",)),
    _rule("openai-api-key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}", ("sk-",),
          check=_mixed),
    _rule("github-token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})",
          ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    _rule("gitlab-token", r"\bgl(?:pat|dt|rt|ptt|cbt|oas)-[A-Za-z0-9_-]{20,}", ("gl",)),
    _rule("slack-token", r"\b(?:xox[abposre]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,})",
          ("xox", "xapp-")),
    _rule("slack-webhook", r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<v>[A-Za-z0-9/_-]{10,})",
          ("hooks.slack.com",)),
    _rule("discord-webhook", r"discord(?:app)?\.com/api/webhooks/(?P<v>\d+/[A-Za-z0-9_-]{20,})",
          ("discord",)),
    _rule("stripe-key", r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}", ("_live_", "_test_")),
    _rule("stripe-webhook-secret", r"\bwhsec_[A-Za-z0-9+/=]{24,}", ("whsec_",)),
    _rule("google-api-key", r"\bAIza[0-9A-Za-z_-]{35}", ("aiza",)),
    _rule("google-oauth-secret", r"\bGOCSPX-[A-Za-z0-9_-]{20,}", ("gocspx-",)),
    _rule("google-oauth-token", r"\bya29\.[0-9A-Za-z_-]{20,}", ("ya29.",)),
    _rule("sendgrid-api-key", r"\bSG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}", ("sg.",)),
    _rule("npm-token", r"\bnpm_[A-Za-z0-9]{36}\b", ("npm_",)),
    _rule("pypi-token", r"\bpypi-AgE[A-Za-z0-9_-]{50,}", ("pypi-",)),
    _rule("twilio-api-key", r"\bSK[0-9a-f]{32}\b", ("sk",)),
    _rule("huggingface-token", r"\bhf_[A-Za-z0-9]{34,}", ("hf_",)),
    _rule("shopify-token", r"\bshp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}", ("shp",)),
    _rule("digitalocean-token", r"\bdo[opr]_v1_[a-f0-9]{64}", ("_v1_",)),
    _rule("mailgun-api-key", r"\bkey-[0-9a-f]{32}\b", ("key-",)),
    _rule("databricks-token", r"\bdapi[a-f0-9]{32}(?:-\d)?\b", ("dapi",)),
    _rule("docker-hub-token", r"\bdckr_pat_[A-Za-z0-9_-]{20,}", ("dckr_pat_",)),
    _rule("grafana-token", r"\bgl(?:sa|c)_[A-Za-z0-9_=+/-]{32,}", ("glsa_", "glc_")),
    _rule("sentry-token", r"\bsntry[su]_[A-Za-z0-9_=+/-]{30,}", ("sntry",)),
    _rule("telegram-bot-token", r"(?<!\d)\d{8,10}:AA[0-9A-Za-z_-]{33}(?![\w-])", (":aa",)),
    _rule("aws-access-key-id", r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b",
          ("akia", "asia", "abia", "acca", "a3t")),
    _rule("jwt", r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*", ("eyj",)),
    # Credentials inside URLs and DSNs.
    _rule("url-password", r"(?i)\b[a-z][a-z0-9+.-]{1,20}://[^\s:/?#@\"'<>\[\]]*:"
          r"(?P<v>(?!\[redacted)[^\s@/?#\"'<>]+)@(?=[\w.\[-])", ("://",)),
    _rule("url-password", r"(?<![\w.\[-])[\w.-]+:(?P<v>(?!\[redacted)[^\s@:/\"']+)@(?:tcp|unix)\(", ("@",)),
    _rule("url-token", r"(?i)\b[a-z][a-z0-9+.-]{1,20}://(?P<v>[A-Za-z0-9_-]{20,})@", ("://",),
          check=_has_digit),
    _rule("azure-key", r"(?<![\w-])(?:AccountKey|SharedAccessKey|SharedAccessSignature)\s*=\s*"
          r"(?P<v>(?!\[redacted)[^;\s\"'<>]+)", ("accountkey", "sharedaccess"), _I),
    # Vendor keys recognised by their label.
    _rule("aws-secret-key", rf"(?<![\w-])(?:aws[_.-]?)?secret[_.-]?(?:access[_.-]?)?key{_LABEL_END}"
          r"(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])", ("secret",), _I),
    _rule("aws-session-token", rf"(?<![\w-])aws[_.-]?session[_.-]?token{_LABEL_END}"
          r"(?P<v>[A-Za-z0-9/+=]{40,})", ("session",), _I),
    _rule("datadog-api-key", rf"(?<![\w-])(?:dd|datadog)[_-]?api[_-]?key{_LABEL_END}"
          r"(?P<v>[a-f0-9]{32})(?![a-f0-9])", ("dd", "datadog"), _I),
    _rule("datadog-app-key", rf"(?<![\w-])(?:dd|datadog)[_-]?app(?:lication)?[_-]?key{_LABEL_END}"
          r"(?P<v>[a-f0-9]{40})(?![a-f0-9])", ("dd", "datadog"), _I),
    _rule("pagerduty-key", rf"(?<![\w-])(?:(?:pagerduty|pd)[\w.-]*?(?:key|token)|routing[_-]?key|"
          rf"integration[_-]?key|service[_-]?key){_LABEL_END}(?P<v>[A-Za-z0-9_+-]{{20,40}})",
          ("pagerduty", "pd", "routing", "integration", "service"), _I),
    _rule("twilio-auth-token", rf"(?<![\w-])twilio[\w.-]*?token{_LABEL_END}(?P<v>[a-f0-9]{{32}})",
          ("twilio",), _I),
    # HTTP authentication.
    _rule("authorization", rf"(?<![\w-])(?:proxy-)?authorization{_LABEL_END}(?>(?:(?P<scheme>bearer|basic|"
          r"token|digest|negotiate|ntlm|sso-key|ssws|splunk|apikey|api-key|hmac|aws4-hmac-sha256)\s+)?)"
          r"(?P<v>(?!\[redacted)[^\s\"'\\]+)", ("authorization",), _I, kind_of=_kind_by_scheme),
    _rule("bearer-token", r"\b[Bb]earer\s+(?P<v>(?!\[redacted)[A-Za-z0-9._~+/-]{12,}=*)", ("bearer",),
          check=_has_digit),
    _rule("basic-auth", r"\bBasic\s+(?P<v>[A-Za-z0-9+/]{8,}={0,2})(?![\w+/=])", ("basic",),
          check=_basic),
    _rule("cookie", r"(?<![\w-])(?:set-)?cookie\\?[\"']?\s*:\s*\\?[\"']?"
          r"(?P<v>(?!\[redacted)[^\s\"'\\][^\r\n\"'\\]*)", ("cookie",), _I),
    # Generic labelled secrets: key=value pairs, JSON members, XML elements, command-line flags.
    _rule("secret", rf"(?<![\w.-])(?P<key>{SECRET_KEY}){_ASSIGN}{_VALUE}",
          ("pass", "pwd", "secret", "token", "key", "sig", "credential"), _I,
          check=_assigned, kind_of=_kind_by_key),
    _rule("secret", rf"<(?P<key>{SECRET_KEY})>(?P<v>(?!\[redacted)[^<]{{1,512}})</(?P=key)>",
          ("pass", "pwd", "secret", "token", "key", "sig", "credential"), _I, kind_of=_kind_by_key),
    _rule("secret", r"(?<![\w-])--?(?P<key>password|passwd|token|secret|api-key|apikey|access-token|"
          r"auth-token|client-secret)\s+(?P<v>(?![-\[])[^\s\"']+)", ("pass", "token", "secret", "key"), _I,
          check=_assigned, kind_of=_kind_by_key),
    _rule("aws-secret-key", r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])", (),
          check=_random_40, min_length=40),
    # Personal data.
    _rule("email", r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*(?:@|%40)[A-Za-z0-9](?:[A-Za-z0-9-]*"
          r"[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])",
          ("@", "%40"), check=_email),
    _rule("payment-card", r"(?<![\w.+-])(?:\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{5}"
          r"|\d{13,19})(?![\w-]|\.\d)", (), check=_card, min_length=13),
    _rule("phone", rf"(?<![\w-])(?:phone|mobile|cell|tel|telephone|msisdn|fax)(?:[_-]?(?:number|no))?"
          rf"{_LABEL_END}(?P<v>\+?[\d().-](?:[\d\s().-]{{5,20}})\d)", ("phone", "mobile", "cell", "tel",
          "msisdn", "fax"), _I, check=_labelled_phone),
    _rule("phone", r"(?<![\w+])(?:\(\+|\+)[1-9](?:[\s.()/-]{0,2}\d)++", ("+",), check=_phone),
    _rule("phone", r"(?<![\w.+-])(?:\([2-9]\d{2}\)\s?[2-9]\d{2}[-.\s]\d{4}|[2-9]\d{2}([-.])[2-9]\d{2}\1"
          r"\d{4})(?![\w-]|\.\d)", (), check=_phone, min_length=12),
)

PII_KINDS = ("email", "payment-card", "phone")
