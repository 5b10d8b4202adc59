"""A loopback HTTPS server speaking PagerDuty's REST API v2 (as documented in the API reference and
PagerDuty/api-schema): `Authorization: Token token=...`, wrapped entities, classic pagination
(`offset` / `limit` / `more` / `total`), `since` / `until` windows, and the error object
`{"error": {"message", "code", "errors"}}` with 401 / 403 / 404 / 429 (+ `Retry-After`).

Incident notes (`GET` / `POST /incidents/{id}/notes`): a write key is needed to post, and an
account key must name the poster in a `From` header holding a known user's e-mail (else 400
"Requester User Not Found"); at most `NOTE_LIMIT` characters and `MAX_NOTES` notes per incident."""

from __future__ import annotations

import itertools
import re
import ssl
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import trustme

from tests.fakes.loopback import LoopbackServer, Reply, Seen

WEB = "https://acme.pagerduty.com"
NOTE_LIMIT = 25_000
MAX_NOTES = 2000
API = "https://api.pagerduty.com"
_LOG_IDS = itertools.count(1)
_NOTE_IDS = itertools.count(1)


@dataclass(frozen=True)
class Key:
    """A REST API key the fake accepts: general-access (account) or a user's own key."""

    kind: str = "account"  # account | user
    role: str = "admin"
    user: str = "Ada Lovelace"
    read_only: bool = True


def error(status: int, message: str, code: int, *errors: str, **headers: str) -> Reply:
    """PagerDuty's documented error object."""
    body: dict[str, Any] = {"message": message, "code": code}
    if errors:
        body["errors"] = list(errors)
    return Reply(status, {"error": body}, headers)


def ref(kind: str, ident: str, summary: str, collection: str) -> dict[str, Any]:
    """A reference object (`service_reference`, `user_reference`, ...)."""
    return {"id": ident, "type": f"{kind}_reference", "summary": summary,
            "self": f"{API}/{collection}/{ident}", "html_url": f"{WEB}/{collection}/{ident}"}


def service(ident: str = "PSVC001", name: str = "checkout-api") -> dict[str, Any]:
    return {**ref("service", ident, name, "services"),
            "html_url": f"{WEB}/service-directory/{ident}"}


def incident(ident: str, number: int, title: str, created_at: str, *, status: str = "triggered",
             svc: dict[str, Any] | None = None, urgency: str = "high", alerts: int = 1) -> dict[str, Any]:
    """An incident as `GET /incidents/{id}` returns it."""
    svc = svc or service()
    user = ref("user", "PUSER01", "Grace Hopper", "users")
    return {
        "id": ident, "type": "incident", "summary": f"[#{number}] {title}",
        "self": f"{API}/incidents/{ident}", "html_url": f"{WEB}/incidents/{ident}",
        "incident_number": number, "title": title, "description": title,
        "created_at": created_at, "updated_at": created_at, "status": status,
        "incident_key": f"key-{ident.lower()}", "service": svc,
        "assignments": [{"at": created_at, "assignee": user}] if status != "resolved" else [],
        "assigned_via": "escalation_policy", "acknowledgements": [],
        "last_status_change_at": created_at, "last_status_change_by": svc,
        "first_trigger_log_entry": ref("trigger_log_entry", f"R{ident}", "Triggered", "log_entries"),
        "escalation_policy": ref("escalation_policy", "PEP0001", "Checkout on-call", "escalation_policies"),
        "teams": [ref("team", "PTEAM01", "Payments", "teams")],
        "pending_actions": [], "urgency": urgency, "resolve_reason": None,
        "alert_counts": {"all": alerts, "triggered": alerts if status == "triggered" else 0,
                         "resolved": 0 if status == "triggered" else alerts},
        "priority": {"id": "PPRIO01", "type": "priority", "summary": "P1", "name": "P1"},
        "incident_type": {"name": "incident_default"},
    }


def alert(incident_obj: dict[str, Any], n: int, created_at: str, *, severity: str = "critical",
          details: Any = None) -> dict[str, Any]:
    """An alert as `GET /incidents/{id}/alerts` lists it, with `body.details` custom fields."""
    ident = f"A{incident_obj['id'][-4:]}{n:05d}"
    return {
        "id": ident, "type": "alert", "summary": f"{incident_obj['title']} (alert {n})",
        "self": f"{API}/incidents/{incident_obj['id']}/alerts/{ident}",
        "html_url": f"{WEB}/alerts/{ident}", "created_at": created_at,
        "status": "triggered", "alert_key": f"dedup-{n}",
        "service": incident_obj["service"],
        "first_trigger_log_entry": ref("trigger_log_entry", f"L{ident}", "Triggered", "log_entries"),
        "incident": {**ref("incident", incident_obj["id"], incident_obj["summary"], "incidents")},
        "suppressed": False, "severity": severity,
        "integration": ref("events_api_v2_inbound_integration", "PINT001", "Prometheus",
                           "services/PSVC001/integrations"),
        "body": {"type": "alert_body",
                 "contexts": [{"type": "link", "href": "https://grafana.example/d/checkout",
                               "text": "Dashboard"}],
                 "details": details if details is not None else {"region": "eu-west-1", "pod": f"web-{n}"}},
    }


def log_entry(incident_obj: dict[str, Any], kind: str, created_at: str, summary: str,
              agent: dict[str, Any] | None = None, note: str | None = None) -> dict[str, Any]:
    """A log entry (`trigger_log_entry`, `acknowledge_log_entry`, `annotate_log_entry`, ...)."""
    ident = f"R{next(_LOG_IDS):012d}"
    channel: dict[str, Any] = {"type": "note", "summary": note} if note else {"type": "api"}
    return {
        "id": ident, "type": f"{kind}_log_entry", "summary": summary,
        "self": f"{API}/log_entries/{ident}", "html_url": None, "created_at": created_at,
        "agent": agent or incident_obj["service"], "channel": channel,
        "service": incident_obj["service"],
        "incident": ref("incident", incident_obj["id"], incident_obj["summary"], "incidents"),
        "teams": [], "contexts": [], "event_details": {"description": summary},
    }


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakePagerDuty:
    """PagerDuty's REST API v2 on a loopback HTTPS server with a throwaway certificate."""

    def __init__(self) -> None:
        self.ca = trustme.CA()
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(tls)
        self.keys: dict[str, Key] = {}
        self.incidents: dict[str, dict[str, Any]] = {}
        self.alerts: dict[str, list[dict[str, Any]]] = {}
        self.log_entries: dict[str, list[dict[str, Any]]] = {}
        self.notes: dict[str, list[dict[str, Any]]] = {}
        self.users = {"ops-bot@example.com": "Triage Bot"}  # From addresses the account knows
        self.lost_answers = 0  # the next N posted notes are stored, but answered too late
        self.lost_answer_delay = 1.0
        self.server = LoopbackServer(self.handle, tls).start()

    @property
    def url(self) -> str:
        return self.server.url

    def handle(self, seen: Seen) -> Reply:
        """Authenticate, then route a request like the REST API does."""
        header = seen.headers.get("authorization", "")
        match = re.fullmatch(r"Token token=(.+)", header)
        key = self.keys.get(match[1]) if match else None
        if key is None:
            return error(401, "Authentication failed", 2006)  # never echoes the key
        if seen.method != "GET" and key.read_only:
            return error(403, "Access Denied", 2010, "Read-only API keys may only make GET requests")
        if m := re.fullmatch(r"/incidents/([A-Za-z0-9]+)/notes", seen.path):
            return self._notes(m[1], key, seen)
        if seen.method != "GET":
            return error(405, "Method not allowed in this fake", 2001)
        if seen.path == "/users/me":
            if key.kind != "user":
                return error(400, "Invalid Input Provided", 2001,
                             "This endpoint requires a user-level API key or an OAuth token")
            return Reply(200, {"user": {"id": "PUSER02", "type": "user", "summary": key.user,
                                        "name": key.user, "email": "ada@example.com", "role": key.role,
                                        "html_url": f"{WEB}/users/PUSER02"}})
        if m := re.fullmatch(r"/incidents/([A-Za-z0-9]+)", seen.path):
            found = self.incidents.get(m[1])
            return Reply(200, {"incident": found}) if found else error(404, "Not Found", 2100)
        if m := re.fullmatch(r"/incidents/([A-Za-z0-9]+)/(alerts|log_entries)", seen.path):
            if m[1] not in self.incidents:
                return error(404, "Not Found", 2100)
            items = (self.alerts if m[2] == "alerts" else self.log_entries).get(m[1], [])
            if m[2] == "log_entries":
                items = self._windowed(items, seen)
                if seen.query.get("is_overview") == ["true"]:
                    items = [e for e in items if e["type"] != "notify_log_entry"]
            return self._page(m[2], items, seen)
        if seen.path == "/incidents":
            items = list(self.incidents.values())
            if ids := seen.query.get("service_ids[]"):
                items = [i for i in items if i["service"]["id"] in ids]
            items = self._windowed(items, seen)
            descending = seen.query.get("sort_by") == ["created_at:desc"]
            items.sort(key=lambda i: i["created_at"], reverse=descending)
            return self._page("incidents", items, seen)
        return error(404, "Not Found", 2100)

    def _notes(self, incident_id: str, key: Key, seen: Seen) -> Reply:
        """List an incident's notes, or add one (as the user the From header names)."""
        if incident_id not in self.incidents:
            return error(404, "Not Found", 2100)
        notes = self.notes.setdefault(incident_id, [])
        if seen.method == "GET":
            return Reply(200, {"notes": notes})
        if seen.method != "POST":
            return error(405, "Method not allowed", 2001)
        sender = seen.headers.get("from", "")
        user = self.users.get(sender) if key.kind == "account" else key.user
        if user is None:
            return error(400, "Invalid Input Provided", 2001, "Requester User Not Found")
        body = seen.json()
        content = body.get("note", {}).get("content") if isinstance(body, dict) else None
        if not isinstance(content, str) or not content.strip():
            return error(400, "Invalid Input Provided", 2001, "Note content can't be blank")
        if len(content) > NOTE_LIMIT:
            return error(400, "Invalid Input Provided", 2001,
                         f"Note content is too long (maximum is {NOTE_LIMIT} characters)")
        if len(notes) >= MAX_NOTES:
            return error(400, "Invalid Input Provided", 2001, "Incident has too many notes")
        note = {"id": f"PN{next(_NOTE_IDS):05d}", "user": ref("user", "PBOT001", user, "users"),
                "channel": {"summary": "The PagerDuty REST API"}, "content": content,
                "created_at": "2026-01-01T00:00:00Z"}
        notes.append(note)
        delay = 0.0
        if self.lost_answers:
            self.lost_answers -= 1
            delay = self.lost_answer_delay
        return Reply(200, {"note": note}, delay=delay)

    def _windowed(self, items: list[dict[str, Any]], seen: Seen) -> list[dict[str, Any]]:
        since, until = seen.query.get("since"), seen.query.get("until")
        if since and until:
            lo, hi = _when(since[0]), _when(until[0])
            return [i for i in items if lo <= _when(i["created_at"]) < hi]
        return items

    def _page(self, wrapper: str, items: list[dict[str, Any]], seen: Seen) -> Reply:
        """Classic pagination: at most 100 per page; `total` only when asked with `total=true`."""
        offset = int(seen.query.get("offset", ["0"])[0])
        limit = min(int(seen.query.get("limit", ["25"])[0]), 100)
        page = items[offset:offset + limit]
        total = len(items) if seen.query.get("total") == ["true"] else None
        return Reply(200, {wrapper: page, "limit": limit, "offset": offset,
                           "more": offset + limit < len(items), "total": total})
