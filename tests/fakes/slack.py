"""A loopback Slack Web API (`/api/<method>`) speaking the documented shapes of the methods the
triage thread uses: `chat.postMessage`, `chat.update`, `conversations.history`,
`conversations.replies` (both with `include_all_metadata` and cursor pagination) and `views.open`.

As Slack does: errors are HTTP 200 `{"ok": false, "error": "<code>"}` (`invalid_auth`,
`channel_not_found`, `not_in_channel`, `message_not_found`, `invalid_blocks`, `no_text`,
`expired_trigger_id`); a rate limit is HTTP 429 with `Retry-After` (queue it with `rate_limit`);
message metadata is returned only to `include_all_metadata`; history (from `oldest`, if given) is
newest first, replies oldest first with the parent leading. Block Kit limits: 50 blocks, 3,000
characters a section.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.loopback import LoopbackServer, Reply, Seen

TOKEN = "xoxb-test-1234-secretbot"  # planted: must never show up in errors or steps
BOT = "U0TRIAGEBOT"
MAX_BLOCKS = 50
SECTION_LIMIT = 3000


@dataclass
class Message:
    """One message as Slack stores it."""

    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    edited: int = 0

    def shape(self, with_metadata: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "user": BOT, "bot_id": "B0TRIAGE", "ts": self.ts,
                               "text": self.text, "blocks": self.blocks}
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.edited:
            out["edited"] = {"user": BOT, "ts": self.ts}
        if with_metadata and self.metadata:
            out["metadata"] = self.metadata
        return out


@dataclass
class FakeSlack:
    """The fake workspace: channels the bot is in, their messages, and the modals opened."""

    channels: dict[str, list[Message]] = field(default_factory=dict)
    outside: set[str] = field(default_factory=set)  # channels that exist, the bot not invited
    views: list[dict[str, Any]] = field(default_factory=list)
    expired_triggers: set[str] = field(default_factory=set)
    page_size: int = 0  # > 0: paginate reads at most this many messages a page
    # Slack fetches an image block's URL while posting; False: it cannot (a private URL)
    images_reachable: bool = True

    def __post_init__(self) -> None:
        self._clock = itertools.count(1)
        self.server = LoopbackServer(self._handle).start()

    @property
    def url(self) -> str:
        """What `TRIAGE_SLACK_BASE_URL` names."""
        return f"{self.server.url}/api/"

    def reset(self, *channels: str) -> None:
        self.server.reset()
        self.channels = {c: [] for c in channels}
        self.outside.clear()
        self.views.clear()
        self.expired_triggers.clear()
        self.page_size = 0
        self.images_reachable = True

    def rate_limit(self, method: str, retry_after: int = 0) -> None:
        """Answer the next call of `method` with Slack's 429."""
        self.server.queue(f"/api/{method}", Reply(429, {"ok": False, "error": "ratelimited"},
                                                  {"Retry-After": str(retry_after)}))

    def calls(self, method: str) -> list[Seen]:
        return [s for s in self.server.seen if s.path == f"/api/{method}"]

    def top_level(self, channel: str) -> list[Message]:
        return [m for m in self.channels[channel] if not m.thread_ts or m.thread_ts == m.ts]

    def thread(self, channel: str, ts: str) -> list[Message]:
        return [m for m in self.channels[channel] if m.ts == ts or m.thread_ts == ts]

    # -- the API ---------------------------------------------------------------------------

    def _handle(self, seen: Seen) -> Reply:
        if seen.headers.get("authorization") != f"Bearer {TOKEN}":
            return _error("not_authed" if "authorization" not in seen.headers else "invalid_auth")
        if seen.headers.get("content-type", "").startswith("application/json"):
            args = seen.json()
        else:  # GET query string or a form body: Slack takes either
            fields = {**seen.query, **parse_qs(seen.body.decode(), keep_blank_values=True)}
            args = {k: v[0] for k, v in fields.items()}
        method = seen.path.removeprefix("/api/")
        handler = {"chat.postMessage": self._post, "chat.update": self._update,
                   "conversations.history": self._history, "conversations.replies": self._replies,
                   "views.open": self._views_open}.get(method)
        if handler is None:
            return Reply(404, {"ok": False, "error": "unknown_method"})
        return handler(args)

    def _channel(self, args: dict[str, Any]) -> tuple[list[Message] | None, Reply | None]:
        channel = str(args.get("channel", ""))
        if channel in self.outside:
            return None, _error("not_in_channel")
        if channel not in self.channels:
            return None, _error("channel_not_found")
        return self.channels[channel], None

    def _post(self, args: dict[str, Any]) -> Reply:
        messages, refused = self._channel(args)
        if refused or messages is None:
            return refused or _error("channel_not_found")
        if not args.get("text") and not args.get("blocks"):
            return _error("no_text")
        if problem := _blocks_problem(args.get("blocks") or []):
            return _error("invalid_blocks", problem)
        images = [n for n, b in enumerate(args.get("blocks") or []) if b.get("type") == "image"]
        if images and not self.images_reachable:
            return _error("invalid_blocks",
                          f"downloading image failed [json-pointer:/blocks/{images[0]}/image_url]")
        thread_ts = args.get("thread_ts")
        if thread_ts and not any(m.ts == thread_ts for m in messages):
            return _error("thread_not_found")
        message = Message(f"{int(time.time())}.{next(self._clock):06d}", str(args.get("text", "")),
                          list(args.get("blocks") or []), thread_ts, args.get("metadata"))
        messages.append(message)
        return Reply(200, {"ok": True, "channel": args["channel"], "ts": message.ts,
                           "message": message.shape(with_metadata=False)})

    def _update(self, args: dict[str, Any]) -> Reply:
        messages, refused = self._channel(args)
        if refused or messages is None:
            return refused or _error("channel_not_found")
        found = next((m for m in messages if m.ts == args.get("ts")), None)
        if found is None:
            return _error("message_not_found")
        if problem := _blocks_problem(args.get("blocks") or []):
            return _error("invalid_blocks", problem)
        found.text, found.blocks = str(args.get("text", found.text)), list(args.get("blocks") or [])
        found.edited += 1
        return Reply(200, {"ok": True, "channel": args["channel"], "ts": found.ts,
                           "text": found.text, "message": found.shape(with_metadata=False)})

    def _history(self, args: dict[str, Any]) -> Reply:
        messages, refused = self._channel(args)
        if refused or messages is None:
            return refused or _error("channel_not_found")
        oldest = float(args.get("oldest") or 0)
        newest_first = [m for m in reversed(self.top_level(str(args["channel"])))
                        if float(m.ts) >= oldest]
        return self._page(newest_first, args)

    def _replies(self, args: dict[str, Any]) -> Reply:
        messages, refused = self._channel(args)
        if refused or messages is None:
            return refused or _error("channel_not_found")
        thread = self.thread(str(args["channel"]), str(args.get("ts", "")))
        return self._page(thread, args) if thread else _error("thread_not_found")

    def _page(self, messages: list[Message], args: dict[str, Any]) -> Reply:
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        start = int(args.get("cursor") or 0)
        size = self.page_size or int(args.get("limit") or 100)
        page = messages[start:start + size]
        more = start + size < len(messages)
        return Reply(200, {"ok": True, "messages": [m.shape(with_metadata) for m in page],
                           "has_more": more, "pin_count": 0,
                           "response_metadata": {"next_cursor": str(start + size) if more else ""}})

    def _views_open(self, args: dict[str, Any]) -> Reply:
        trigger, view = str(args.get("trigger_id", "")), args.get("view")
        if not trigger or trigger in self.expired_triggers:
            return _error("expired_trigger_id")
        if not isinstance(view, dict) or view.get("type") != "modal" or len(
                view.get("title", {}).get("text", "")) > 24:
            return _error("invalid_arguments")
        if problem := _blocks_problem(view.get("blocks") or []):
            return _error("invalid_blocks", problem)
        self.views.append({"trigger_id": trigger, **view})
        return Reply(200, {"ok": True, "view": {"id": f"V{len(self.views):08d}", **view}})


def _error(code: str, detail: str = "") -> Reply:
    body: dict[str, Any] = {"ok": False, "error": code}
    if detail:
        body["response_metadata"] = {"messages": [f"[ERROR] {detail}"]}
    return Reply(200, body)


def _blocks_problem(blocks: list[dict[str, Any]]) -> str:
    """What breaks Block Kit's documented limits, or ""."""
    if len(blocks) > MAX_BLOCKS:
        return f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"
    for n, block in enumerate(blocks):
        texts = [block.get("text") or {}, *(block.get("fields") or [])]
        if block.get("type") == "header" and len((block.get("text") or {}).get("text", "")) > 150:
            return f"must be less than 151 characters [json-pointer:/blocks/{n}/text]"
        if any(len(t.get("text", "")) > SECTION_LIMIT for t in texts if isinstance(t, dict)):
            return f"must be less than 3001 characters [json-pointer:/blocks/{n}/text]"
    return ""
