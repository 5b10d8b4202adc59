"""Redaction: secrets and personal data become typed markers before anything leaves the store for a
brain, a report or a note.

    redactor = Redactor(RedactionConfig(allow=[r"pk_live_\\w+"]))
    redactor.redact_text("db password=hunter2")   # 'db password=[redacted:password]'
    result = redactor.redact({"rows": rows})       # result.value, result.counts (by kind)

What is found is listed in `redaction_rules` (vendor tokens, keys in URLs / headers / key=value
pairs / JSON / XML, PEM private keys; e-mail addresses, payment cards, phone numbers) and
`redaction_detectors` (detect-secrets' vendor rules and JWT check, high-entropy values after a
key-ish word, Heroku keys, `.pgpass` lines; IBANs and US SSNs validated by python-stdnum).
Configuration (`redaction:` in triage.yaml): `allow` regexes exempt a value they match in full,
`deny` rules redact more shapes, `keep_pii` turns off chosen personal-data kinds. Secret kinds
cannot be turned off: a false positive is fixed with `allow`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any, Literal, TypeVar

import ahocorasick  # type: ignore[import-not-found]  # a C module without stubs
from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors import Evidence
from triage.analysis.redaction_detectors import CLIENT_IP_RULE, CONTEXT_RULES, PII_RULES, VENDOR_RULES
from triage.analysis.redaction_rules import (
    BUILTIN_RULES,
    MARKER_PREFIX,
    PII_KINDS,
    SECRET_FIELD,
    Rule,
    kind_for_key,
    marker,
)
from triage.models import StepRecord

M = TypeVar("M", bound=BaseModel)
_OWN_SECRETS = tuple(r for r in BUILTIN_RULES if r.kind not in PII_KINDS)
# Order: PEM blocks first (their body holds every shape), then vendor shapes so a value gets its
# vendor's name, the labelled `key=value` rules, the key-ish context rules, personal data last.
RULES: tuple[Rule, ...] = (
    _OWN_SECRETS[0], *VENDOR_RULES, *_OWN_SECRETS[1:], *CONTEXT_RULES,
    *(r for r in BUILTIN_RULES if r.kind in PII_KINDS), *PII_RULES)
_FIELD_PLACEHOLDERS = frozenset({"", "true", "false", "null", "none", "***", "redacted"})
# Integers this long may be card numbers stored in a numeric column; shorter ones never are.
_CARD_SIZED = 10**12
_KEY_CACHE_SIZE = 4096


def _compiles(pattern: str, flags: int = 0) -> str:
    try:
        re.compile(pattern, flags)
    except re.error as exc:
        raise ValueError(f"invalid regex {pattern!r}: {exc}") from exc
    return pattern


class DenyRule(BaseModel):
    """An extra shape to always redact; a group named `v` limits the replacement to that part."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    kind: str = Field(default="custom", pattern=r"^[a-z0-9][a-z0-9-]*$")
    pattern: str = Field(min_length=1)
    ignore_case: bool = False

    @field_validator("pattern")
    @classmethod
    def _valid(cls, pattern: str) -> str:
        return _compiles(pattern)


class RedactionConfig(BaseModel):
    """`redaction:` in triage.yaml."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    allow: list[str] = Field(default_factory=list,
                             description="regexes; a candidate they match in full is kept")
    deny: list[DenyRule] = Field(default_factory=list, description="run before the built-in rules")
    keep_pii: list[Literal["email", "payment-card", "phone", "us-ssn", "iban"]] = Field(
        default_factory=list, description="personal-data kinds not to redact")
    model_sees_client_ips: bool = Field(
        default=False, description="send public IP addresses to the model as they are (they are "
        "kept in reports either way: there they are evidence)")

    @field_validator("allow")
    @classmethod
    def _valid(cls, patterns: list[str]) -> list[str]:
        return [_compiles(p) for p in patterns]


@dataclass
class Redacted:
    """A redacted value and how many values of each kind were replaced in it."""

    value: Any
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """How many values were replaced."""
        return sum(self.counts.values())


class Redactor:
    """Replaces secrets and personal data with `[redacted:<kind>]`; safe to share across threads."""

    def __init__(self, config: RedactionConfig | None = None,
                 extra: tuple[Rule, ...] = ()) -> None:
        self.config = config or RedactionConfig()
        self._allow = [re.compile(p) for p in self.config.allow]
        custom = [*extra, *(Rule(d.kind, re.compile(d.pattern, re.I if d.ignore_case else 0))
                            for d in self.config.deny)]
        keep = set(self.config.keep_pii)
        self._rules = (*custom, *(r for r in RULES if r.kind not in keep))
        self._unhinted = tuple(r for r in self._rules if not r.hints)
        # One Aho-Corasick pass finds every hint present, overlapping ones included: a regex of
        # ~100 alternatives tried at every position cost 15x more, and checking the substrings
        # one by one more than all the rules' regexes together.
        self._hints = ahocorasick.Automaton()
        for hint in {h for r in self._rules for h in r.hints}:
            self._hints.add_word(hint, hint)
        self._hints.make_automaton()
        self._rules_by_hints: dict[frozenset[str], tuple[Rule, ...]] = {}
        self._keys: dict[str, tuple[str, Counter[str], bool]] = {}

    def redact_text(self, text: str, counts: Counter[str] | None = None) -> str:
        """The text with every secret and personal value replaced by a typed marker."""
        tally = counts if counts is not None else Counter()
        found = frozenset(hint for _, hint in self._hints.iter(text.lower()))
        for rule in self._rules_for(found) if found else self._unhinted:
            if not rule.hints and len(text) < rule.min_length:
                continue
            text = rule.regex.sub(partial(self._replace, rule, tally), text)
        return text

    def redact_value(self, value: Any, counts: Counter[str] | None = None) -> Any:
        """A copy of a JSON-like value (dicts, lists, scalars) with every string redacted; the
        whole value of a field named like a credential (`password`, `Authorization`) too."""
        tally = counts if counts is not None else Counter()
        if isinstance(value, str):
            return self.redact_text(value, tally)
        if isinstance(value, dict):
            return self._redact_fields(value, tally)
        if isinstance(value, list | tuple):
            return [self.redact_value(item, tally) for item in value]
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _CARD_SIZED:
            text = str(value)
            redacted = self.redact_text(text, tally)
            return value if redacted == text else redacted
        return value

    def redact(self, value: Any) -> Redacted:
        """Redact `value` and count what was replaced, by kind."""
        counts: Counter[str] = Counter()
        return Redacted(self.redact_value(value, counts), counts)

    def redact_model(self, model: M, counts: Counter[str] | None = None) -> M:
        """A redacted copy of a pydantic model (every string field, nested models included)."""
        return type(model).model_validate(self.redact_value(model.model_dump(mode="json"), counts))

    def redact_evidence(self, evidence: Evidence) -> Evidence:
        """Evidence with its query, link, rows, summary and error redacted; the summary says
        how many values were replaced, so a brain knows they existed."""
        counts: Counter[str] = Counter()
        redacted = self.redact_model(evidence, counts)
        if counts:
            kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
            redacted.summary = f"{redacted.summary} (redacted: {kinds})"
        return redacted

    def redact_step(self, step: StepRecord) -> StepRecord:
        """A recorded step with its name, arguments, summary and detail redacted."""
        return self.redact_model(step)

    def _replace(self, rule: Rule, counts: Counter[str], match: re.Match[str]) -> str:
        spans = [match.span(g) for g in rule.groups if match.start(g) >= 0] or [match.span()]
        text, position, parts = match.string, match.start(), []
        for start, end in spans:
            value = text[start:end]
            if (not value or value.startswith(MARKER_PREFIX) or self._allowed(value)
                    or (rule.check is not None and not rule.check(value, match))):
                continue
            kind = rule.kind_of(match) if rule.kind_of else rule.kind
            parts += [text[position:start], marker(kind)]
            position = end
            counts[kind] += 1
        parts.append(text[position:match.end()])
        return "".join(parts)

    def _rules_for(self, found: frozenset[str]) -> tuple[Rule, ...]:
        # The rules a text runs, in order, given the hints found in it: the same few sets of
        # hints recur, and testing ~80 rules' hints for every string cost more than the regexes.
        rules = self._rules_by_hints.get(found)
        if rules is None:
            rules = tuple(r for r in self._rules if not r.hints or not found.isdisjoint(r.hints))
            if len(self._rules_by_hints) >= _KEY_CACHE_SIZE:
                self._rules_by_hints.clear()
            self._rules_by_hints[found] = rules
        return rules

    def _redact_fields(self, fields: dict[Any, Any], counts: Counter[str]) -> dict[Any, Any]:
        redacted: dict[Any, Any] = {}
        for key, value in fields.items():
            if not isinstance(key, str):
                redacted[key] = self.redact_value(value, counts)
                continue
            name, found, names_credential = self._key_info(key)
            if found:
                counts.update(found)
            if names_credential and self._is_credential(value):
                kind = kind_for_key(key)
                counts[kind] += 1
                redacted[name] = marker(kind)
            elif isinstance(value, str):  # most fields: one call fewer
                redacted[name] = self.redact_text(value, counts)
            else:
                redacted[name] = self.redact_value(value, counts)
        return redacted

    def _key_info(self, key: str) -> tuple[str, Counter[str], bool]:
        # Field names repeat in every row: remember what each one redacts to, the kinds it
        # held, and whether it names a credential.
        known = self._keys.get(key)
        if known is None:
            if len(self._keys) >= _KEY_CACHE_SIZE:
                self._keys.clear()
            found: Counter[str] = Counter()
            known = (self.redact_text(key, found), found, bool(SECRET_FIELD.fullmatch(key)))
            self._keys[key] = known
        return known

    def _is_credential(self, value: Any) -> bool:
        """Whether a credential-named field's value is a credential to hide (not a placeholder,
        a marker already, a short number or an allowed value)."""
        if not isinstance(value, str | int) or isinstance(value, bool):
            return False
        text = str(value)
        short_number = isinstance(value, int) and len(text) <= 4
        return not (text.lower() in _FIELD_PLACEHOLDERS or text.startswith(MARKER_PREFIX)
                    or short_number or self._allowed(text))

    def _allowed(self, value: str) -> bool:
        return any(pattern.fullmatch(value) for pattern in self._allow)


@cache
def default_redactor() -> Redactor:
    """The redactor with the built-in rules only (used when no configuration is given)."""
    return Redactor()


def model_redactor_for(config: Any) -> Redactor:
    """The redactor for what is sent to a model vendor: the configured one, plus public (client)
    IP addresses unless `redaction.model_sees_client_ips` is set. Internal addresses (RFC 1918,
    loopback, link-local, shared CGNAT space) stay: they name our own hosts."""
    section = getattr(config, "redaction", None)
    settings = section if isinstance(section, RedactionConfig) else RedactionConfig()
    return Redactor(settings, () if settings.model_sees_client_ips else (CLIENT_IP_RULE,))


def redactor_for(config: Any) -> Redactor:
    """The redactor a `TriageConfig` asks for (its `redaction:` section), or the default one."""
    section = getattr(config, "redaction", None)
    return Redactor(section) if isinstance(section, RedactionConfig) else default_redactor()
