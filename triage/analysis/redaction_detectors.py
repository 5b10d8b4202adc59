"""Redaction rules taken from maintained detectors, and the few shapes they lack.

- Vendor token shapes come from `detect-secrets` plugins (their `denylist` regexes, Yelp's rule
  set); its JWT check confirms a JWT decodes, and its entropy measure judges key-shaped values.
- IBANs and US social security numbers are confirmed by `python-stdnum` (mod-97 and country length;
  the SSA's area/group/serial rules), so an order number or a digit run is not redacted.
- Our own: a high-entropy value right after a key-ish word (`Datadog API key 3f9c…`), a UUID
  assigned to a key (Heroku API keys), PagerDuty user tokens and `.pgpass` lines.
"""

from __future__ import annotations

import ipaddress
import math
import re
import string
from typing import Any

from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.high_entropy_strings import (
    Base64HighEntropyString,
    HexHighEntropyString,
)
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector
from stdnum import iban
from stdnum.us import ssn

from triage.analysis.redaction_rules import Rule, kind_for_key

_I = re.IGNORECASE
_HEX_ENTROPY = HexHighEntropyString(limit=3.0)
_B64_ENTROPY = Base64HighEntropyString(limit=4.5)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_CAMEL = re.compile(r"(?:[A-Z]+[a-z]+|[a-z]+)(?:[A-Z]+[a-z]*)*")


def _jwt(value: str, _m: re.Match[str]) -> bool:
    return bool(JwtTokenDetector.is_formally_valid(value))


def _plugin_rules(kind: str, detector: Any, hints: tuple[str, ...],
                  min_length: int = 0) -> tuple[Rule, ...]:
    """One rule per regex of a detect-secrets plugin, anchored so it starts a token."""
    return tuple(Rule(kind, re.compile(rf"(?<![A-Za-z0-9])(?:{pattern.pattern})", pattern.flags),
                      hints, min_length=min_length)
                 for pattern in detector.denylist)


def entropy_suggests_key(value: str) -> bool:
    """Whether a value looks like a random key: hex with letters and digits above detect-secrets'
    hex limit, or mixed-case letters with digits near the most a string this long can reach."""
    has_digit = any(c.isdigit() for c in value)
    if _HEX.fullmatch(value):
        return (len(value) >= 16 and has_digit and any(c.isalpha() for c in value)
                and _HEX_ENTROPY.calculate_shannon_entropy(value) >= _HEX_ENTROPY.entropy_limit)
    upper, lower = sum(c.isupper() for c in value), sum(c.islower() for c in value)
    if not (upper and lower):
        return False
    # Random base64 of n characters scores close to log2(n); words and ids score lower. Without a
    # digit the bar is higher and camel-case words (`MaxConnectionsPerHost`) never pass.
    if has_digit:
        limit = min(_B64_ENTROPY.entropy_limit, 0.8 * math.log2(len(value)))
    elif upper >= 3 and lower >= 3 and not _CAMEL.fullmatch(value):
        limit = min(_B64_ENTROPY.entropy_limit, 0.9 * math.log2(len(value)))
    else:
        return False
    return bool(_B64_ENTROPY.calculate_shannon_entropy(value) >= limit)


# A key-ish word, up to two filler words ("rejected", "is"), then the value. The words before the
# key-ish one (`datadog api key`) are read from the text in front of the match: a regex that
# tried them at every word cost more than all other rules together.
_KEYISH = (r"(?:keys?|tokens?|secrets?|sid|passwords?|passwd|pwd|passphrase|credentials?|auth"
           r"|api[_-]?key|apikey|app[_-]?key)")
_CONTEXT = re.compile(
    rf"(?<![A-Za-z0-9])(?P<key>{_KEYISH})(?![A-Za-z0-9])"
    r"(?P<gap>[^\w\n\[]{1,4}(?:[A-Za-z]{1,12}[^\w\n\[]{1,4}){0,2})"
    r"(?P<v>[A-Za-z0-9_+][A-Za-z0-9+/_~.-]{14,}[A-Za-z0-9]=*)(?![A-Za-z0-9+/_~=-])", _I)
_BEFORE = re.compile(r"(?:[A-Za-z0-9]+[ _.-]){0,3}$")


def _key_words(m: re.Match[str]) -> str:
    """The key-ish word with up to three words before it (`datadog api key`), lower case."""
    before = _BEFORE.search(m.string[max(0, m.start() - 40):m.start()])
    return ((before.group() if before else "") + m["key"]).lower()


def _context_value(value: str, m: re.Match[str]) -> bool:
    key = _key_words(m)
    if _UUID.fullmatch(value):
        # A UUID is an id unless it is assigned to a key or named as Heroku's.
        assigned = bool(re.fullmatch(r"\W*[:=]\W*", m["gap"]))
        return "heroku" in key or (assigned and not key.endswith(("sid", "auth")))
    return entropy_suggests_key(value.rstrip("="))


def _context_kind(m: re.Match[str]) -> str:
    key, size = _key_words(m), len(m["v"])
    words = re.sub(r"[_.-]", " ", key)
    if "heroku" in key:
        return "heroku-api-key"
    if "twilio" in key:
        return "twilio-auth-token"
    if "datadog" in key or re.search(r"\bdd\b", words):
        return "datadog-app-key" if size == 40 or "app" in key else "datadog-api-key"
    if "pagerduty" in key or re.search(r"\bpd\b", words):
        return "pagerduty-key"
    return kind_for_key(words.rsplit(" ", 1)[-1])


def _named(field: str) -> bool:
    return field == "*" or any(c.isalpha() for c in field)


def _pgpass(value: str, m: re.Match[str]) -> bool:
    host, port = m["host"].lower(), m["port"]
    # Redis-style keys (`cart:90817:items:a:b`) have the same shape: ask for a real host or a
    # PostgreSQL port; database and user are names (IPv6 groups are not).
    return (("." in host or host in {"*", "localhost"} or port in {"5432", "5433", "6432", "*"})
            and _named(host) and _named(m["db"]) and _named(m["user"])
            and value.lower() not in {"*", "null", "none"})


def _datadog_hex(value: str, m: re.Match[str]) -> bool:
    # `dd.trace_id` / `dd.span_id` carry ids, not keys.
    between = m["mid"].lower()
    return "trace" not in between and "span" not in between and entropy_suggests_key(value)


def _labelled_ssn(value: str, _m: re.Match[str]) -> bool:
    # Labelled: any well-formed number, even one the SSA never issued (078-05-1120 is famous).
    digits = value.replace("-", "").replace(" ", "")
    return (len(digits) == 9 and digits[:3] not in {"000", "666"} and digits[0] != "9"
            and digits[3:5] != "00" and digits[5:] != "0000")


_IBAN_LETTERS = str.maketrans({letter: str(ord(letter) - ord("A") + 10)
                               for letter in string.ascii_uppercase})


def _iban(value: str, _m: re.Match[str]) -> bool:
    # The ISO 7064 mod 97 check first, at C speed: ids shaped like an IBAN are common (two
    # letters, two digits, more letters and digits) and only 1 in 97 of them passes on to
    # python-stdnum's full check (the same checksum, then each country's format).
    compact = value.replace(" ", "")
    if int((compact[4:] + compact[:4]).translate(_IBAN_LETTERS)) % 97 != 1:
        return False
    return bool(iban.is_valid(value))


def _ssn(value: str, _m: re.Match[str]) -> bool:
    return bool(ssn.is_valid(value))


VENDOR_RULES: tuple[Rule, ...] = (
    # Signed, or unsigned (`alg: none`: no third segment, or an empty one).
    Rule("jwt", re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}={0,2}\.[A-Za-z0-9_-]{2,}={0,2}"
                           r"(?:\.[A-Za-z0-9_+/-]*={0,2})?"), ("eyj",), _jwt),
    *_plugin_rules("twilio-account-sid", TwilioKeyDetector, ("ac",))[:1],
    *_plugin_rules("twilio-api-key", TwilioKeyDetector, ("sk",))[1:],
    *_plugin_rules("mailchimp-api-key", MailchimpDetector, ("-us",)),
    *_plugin_rules("square-oauth-secret", SquareOAuthDetector, ("sq0csp-",)),
    *_plugin_rules("discord-bot-token", DiscordBotTokenDetector, (), 59),
    *_plugin_rules("gitlab-token", GitLabTokenDetector, ("gl", "gr1348941")),
    *_plugin_rules("github-token", GitHubTokenDetector, ("gh",)),
    *_plugin_rules("stripe-key", StripeDetector, ("_live_",)),
    *_plugin_rules("sendgrid-api-key", SendGridDetector, ("sg.",)),
    *_plugin_rules("aws-access-key-id", AWSKeyDetector, ("akia", "asia", "abia", "acca", "a3t"))[:1],
    Rule("pagerduty-key", re.compile(r"(?<![\w+-])u\+[A-Za-z0-9_-]{18,20}(?![\w+-])"), ("u+",)),
    # Prefixed tokens detect-secrets has no plugin for (shapes as the vendors document them).
    Rule("new-relic-key", re.compile(r"\bNRAK-[A-Z0-9]{27}\b"), ("nrak-",)),
    Rule("vault-token", re.compile(r"\bhv[sbr]\.[A-Za-z0-9_-]{24,}"), ("hvs.", "hvb.", "hvr.")),
    Rule("age-secret-key", re.compile(r"\bAGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}\b"),
         ("age-secret-key-1",)),
    Rule("linear-api-key", re.compile(r"\blin_(?:api|oauth)_[A-Za-z0-9]{40}\b"), ("lin_",)),
    Rule("postman-api-key", re.compile(r"\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b", _I), ("pmak-",)),
    Rule("doppler-token", re.compile(r"\bdp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9_-]{40,}"), ("dp.",)),
    Rule("terraform-token", re.compile(r"\b[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70}"),
         (".atlasv1.",)),
)

CONTEXT_RULES: tuple[Rule, ...] = (
    Rule("pgpass", re.compile(
        r"(?<![\w.:/@*-])(?P<host>\*|[\w.-]++):(?P<port>\d{2,5}|\*):(?P<db>\*|[\w.$-]++):"
        r"(?P<user>\*|[\w.@$-]++):(?P<v>(?!\[redacted)[^\s:\"'<>,;|][^\s\"'<>,;|]*+)"), (":",), _pgpass),
    Rule("heroku-api-key", re.compile(
        rf"heroku[\w .:=\"'-]{{0,40}}?(?<![0-9a-fA-F-])(?P<v>{_UUID.pattern})", _I), ("heroku",)),
    Rule("datadog-api-key", re.compile(
        r"(?<![A-Za-z0-9])(?:datadog|dd)(?![A-Za-z0-9])(?P<mid>[^\n]{0,48}?)(?<![0-9a-fA-F])"
        r"(?P<v>[0-9a-f]{40}|[0-9a-f]{32})(?![0-9a-fA-F])", _I), ("datadog", "dd"), _datadog_hex,
        lambda m: "datadog-app-key" if len(m["v"]) == 40 else "datadog-api-key"),
    Rule("api-key", _CONTEXT, ("key", "token", "secret", "sid", "pass", "pwd", "credential", "auth"),
         _context_value, lambda m: _context_kind(m)),
)

PII_RULES: tuple[Rule, ...] = (
    Rule("us-ssn", re.compile(r"(?<![\w-])\d{3}([- ])\d{2}\1\d{4}(?![\w-]|\.\d)"), (), _ssn,
         min_length=11),
    Rule("us-ssn", re.compile(r"(?<![\w-])(?:ssn|social[ _-]?security(?:[ _-]?(?:number|no))?)"
                              r"[\"']?\s*[:=#]?\s*[\"']?(?P<v>\d{3}([- ]?)\d{2}\2\d{4})(?!\d)", _I),
         ("ssn", "social"), _labelled_ssn),
    Rule("iban", re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?"
                            r"(?![A-Za-z0-9])"), (), _iban, min_length=15),
)

PII_KINDS = ("us-ssn", "iban")


_INTERNAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16",
    "100.64.0.0/10", "0.0.0.0/8", "::1/128", "fc00::/7", "fe80::/10"))


def _client_ip(value: str, _match: re.Match[str]) -> bool:
    """A valid address outside the internal ranges (a client's, or a public host's)."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return not any(address in network for network in _INTERNAL_NETWORKS
                   if network.version == address.version)


CLIENT_IP_RULE = Rule(
    "client-ip",
    re.compile(r"(?<![\w.:])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)"
               r"(?![\w.])|(?<![\w:])(?:[0-9a-fA-F]{1,4}:){2,7}(?::|[0-9a-fA-F]{1,4})(?![\w:])"),
    check=_client_ip, min_length=7)
