"""A loopback server speaking Anthropic's Messages API (`POST /v1/messages`), driven by scripted
conversations: the test says what the "model" answers at each turn and reads what it was sent.

As documented (platform.claude.com/docs, API reference "Messages", "Errors", tool use and prompt
caching guides): `x-api-key` (or, as the SDK 2.x sends it, `Authorization: Bearer`) and
`anthropic-version` headers; a request with `model`,
`max_tokens`, `system` (string or text blocks), `tools` (`name`, `description`, `input_schema`),
`tool_choice` and alternating `messages` whose assistant `tool_use` blocks must each be answered
by a `tool_result` block (same `tool_use_id`) at the start of the next user message; at most four
`cache_control` breakpoints; tool names matching `^[a-zA-Z0-9_-]{1,64}$`; no empty or
whitespace-only text block ("text content blocks must contain non-whitespace text"); a
`max_tokens` no larger than the model's output ceiling, and a model the API knows (else 404).
With `"stream": true` the answer is server-sent events (`message_start`, `content_block_*`,
`message_delta`, `message_stop`; or an `error` event after `message_start`, when queued).
A response is a `message` with content blocks (`text`, `tool_use`), a `stop_reason`
(`end_turn`, `tool_use`, `max_tokens`, `refusal`, ...) and `usage`
(`input_tokens`, `output_tokens`, `cache_creation_input_tokens`, `cache_read_input_tokens`).
`POST /v1/messages/count_tokens` takes the same body less `max_tokens` and answers
`{"input_tokens": N}` (tools, system and messages together, as the messages usage would add up).
A prompt longer than the model's context window is refused with 400 "prompt is too long: N tokens
> W maximum"; models from 4.6 on refuse a conversation ending with an assistant message (no
prefill). Prompt caching looks for a cached prefix from each breakpoint back over at most 20 block
positions (the breakpoint's own included; tools, system blocks and message content blocks each
count): a previous turn's breakpoint further back than that is not found, and its prefix is
written again.
Errors are `{"type": "error", "error": {"type", "message"}, "request_id"}`: 400
invalid_request_error, 401 authentication_error, 404 not_found_error, 429 rate_limit_error (with
`retry-after`), 500 api_error, 529 overloaded_error.

The turn a request is at is the number of assistant messages it carries, so a retried request
gets the same scripted answer, and a resumed worker that asked for a finished turn again shows up
in `answered` as a repeat.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

from tests.fakes.loopback import LoopbackServer, Reply, Seen

API_KEY = "sk-ant-test-key"
PATH = "/v1/messages"
COUNT_PATH = "/v1/messages/count_tokens"
LOOKBACK = 20  # block positions a breakpoint looks back over for a cache hit
CONTEXT_WINDOW = 200_000
# Models from 4.6 on answer a trailing assistant message with 400 (prefill was removed).
NO_PREFILL = frozenset({"claude-sonnet-4-6", "claude-opus-4-6", "claude-sonnet-5",
                        "claude-sonnet-5-5"})
_IDS = itertools.count(1)
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# Output ceilings of the models this fake serves (the models overview pages), independent of the
# brain's own price table on purpose: a test that picks a model the brain does not know sees it.
MAX_OUTPUT = {"claude-sonnet-4-6": 64_000, "claude-opus-4-6": 128_000,
              "claude-haiku-4-5": 64_000, "claude-opus-4-5": 64_000,
              "claude-sonnet-5": 128_000, "claude-sonnet-5-5": 128_000}
STEP_ID = re.compile(r"inv_[0-9a-z_]+:(?:gather|brain):[0-9a-z.]+")

Turn = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


def text(value: str) -> dict[str, Any]:
    """A text content block."""
    return {"type": "text", "text": value}


def tool_use(name: str, arguments: dict[str, Any], ident: str | None = None) -> dict[str, Any]:
    """A tool_use content block."""
    return {"type": "tool_use", "id": ident or f"toolu_{next(_IDS):06d}", "name": name,
            "input": arguments}


def message(*blocks: dict[str, Any], stop_reason: str | None = None,
            output_tokens: int = 60, stop_details: dict[str, Any] | None = None
            ) -> dict[str, Any]:
    """A response body (id, model and input usage are filled in when it is served);
    `stop_details` as a refusal carries it (`{"type": "refusal", "category", "explanation"}`)."""
    if stop_reason is None:
        stop_reason = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
    return {"type": "message", "role": "assistant", "content": list(blocks),
            "stop_reason": stop_reason, "stop_sequence": None, "stop_details": stop_details,
            "usage": {"output_tokens": output_tokens}}


def error(status: int, kind: str, text_: str, **headers: str) -> Reply:
    """The API's error object."""
    return Reply(status, {"type": "error", "error": {"type": kind, "message": text_},
                          "request_id": f"req_{next(_IDS):06d}"}, dict(headers))


def overloaded() -> Reply:
    """529: the API is temporarily overloaded."""
    return error(529, "overloaded_error", "Overloaded")


def rate_limited(retry_after: str = "0.01") -> Reply:
    """429 with a retry-after (seconds)."""
    return error(429, "rate_limit_error",
                 "Number of request tokens has exceeded your per-minute rate limit",
                 **{"retry-after": retry_after})


def overloaded_mid_stream(input_tokens: int, model: str = "claude-sonnet-4-6") -> Reply:
    """A stream that starts (`message_start`: the prompt was read, and is billed) and then ends
    with an `overloaded_error` event, as the API does when it is overloaded mid-answer."""
    reply = {**message(output_tokens=1), "id": f"msg_{next(_IDS):06d}", "model": model,
             "usage": {"input_tokens": input_tokens, "output_tokens": 1},
             "_error_after_start": "overloaded_error"}
    return Reply(200, _events(reply), {"Content-Type": "text/event-stream; charset=utf-8"})


def step_ids(request: dict[str, Any]) -> list[str]:
    """Every step id quoted anywhere in a request, first appearance first."""
    return list(dict.fromkeys(STEP_ID.findall(json.dumps(request))))


def last_results(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool_result blocks of the request's newest user message."""
    content = request["messages"][-1]["content"]
    return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


def _tokens(value: Any) -> int:
    """A rough token count (a quarter of the JSON's characters)."""
    return max(len(json.dumps(value)) // 4, 1)


def _breakpoints(value: Any) -> int:
    """How many blocks carry cache_control."""
    if isinstance(value, dict):
        own = 1 if "cache_control" in value else 0
        return own + sum(_breakpoints(v) for k, v in value.items() if k != "cache_control")
    if isinstance(value, list):
        return sum(_breakpoints(v) for v in value)
    return 0


def validate(body: Any, counting: bool = False) -> str | None:
    """The API's complaint about a request body (a count_tokens one when `counting`: no
    `max_tokens`), or None when it is well formed."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if counting:
        if "max_tokens" in body or "stream" in body:
            return f"{'max_tokens' if 'max_tokens' in body else 'stream'}: Extra inputs are not permitted"
    elif not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required (an integer >= 1)"
    ceiling = MAX_OUTPUT.get(body["model"])
    if not counting and ceiling is not None and body["max_tokens"] > ceiling:
        return (f"max_tokens: {body['max_tokens']} > {ceiling}, which is the maximum allowed "
                f"number of output tokens for {body['model']}")
    tools = body.get("tools", [])
    names = [t.get("name") for t in tools]
    for n, tool in enumerate(tools):
        if not isinstance(tool.get("name"), str) or not _NAME.match(tool["name"]):
            return f"tools.{n}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
        if (tool.get("input_schema") or {}).get("type") != "object":
            return f"tools.{n}.input_schema.type: Input should be 'object'"
    if len(set(names)) != len(names):
        return "tools: Tool names must be unique."
    choice = body.get("tool_choice")
    if choice and choice.get("type") == "tool" and choice.get("name") not in names:
        return f"tool_choice.name: tool {choice.get('name')!r} not found in tools"
    found = _breakpoints([body.get("system"), tools, body.get("messages")])
    if found > 4:
        return f"A maximum of 4 blocks with cache_control may be provided. Found {found}."
    problem = _validate_messages(body.get("messages"))
    if problem is None and body["model"] in NO_PREFILL and body["messages"][-1].get("role") != "user":
        return ("This model does not support assistant message prefill. The conversation must "
                "end with a user message.")
    return problem


def _validate_messages(messages: Any) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if messages[0].get("role") != "user":
        return "messages: first message must use the \"user\" role"
    pending: list[str] = []
    for n, msg in enumerate(messages):
        content = msg.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not blocks and n != len(messages) - 1:
            return (f"messages.{n}: all messages must have non-empty content except for the "
                    "optional final assistant message")
        texts = [str(b.get("text") or "") for b in blocks if b.get("type") == "text"]
        if any(not t for t in texts):
            return "messages: text content blocks must be non-empty"
        if any(not t.strip() for t in texts):
            return "messages: text content blocks must contain non-whitespace text"
        if msg.get("role") == "assistant":
            if pending:
                return (f"messages.{n}: `tool_use` ids were found without `tool_result` blocks "
                        f"immediately after: {', '.join(pending)}")
            pending = [b["id"] for b in blocks if b.get("type") == "tool_use"]
            continue
        results = [b for b in blocks if b.get("type") == "tool_result"]
        kinds = [b.get("type") for b in blocks]
        if results and kinds[: len(results)] != ["tool_result"] * len(results):
            return (f"messages.{n}: tool_result blocks must come first in the user message, "
                    "before any other content")
        ids = [b.get("tool_use_id") for b in results]
        unexpected = [i for i in ids if i not in pending]
        if unexpected:
            return f"messages.{n}: unexpected `tool_use_id` found in `tool_result` blocks: {unexpected}"
        missing = [i for i in pending if i not in ids]
        if missing:
            return (f"messages.{n - 1}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(missing)}")
        pending = []
    if messages[-1].get("role") != "user" and pending:
        return "messages: the final assistant message has unanswered tool_use blocks"
    return None


class FakeAnthropic:
    """The Messages API on 127.0.0.1, answering turn N of any conversation with `script[N]`."""

    def __init__(self, script: Sequence[Turn] | None = None, api_key: str = API_KEY,
                 context_window: int = CONTEXT_WINDOW) -> None:
        self.script: list[Turn] = list(script or [])
        self.api_key = api_key
        self.context_window = context_window
        self.requests: list[dict[str, Any]] = []  # every well-formed request, in arrival order
        self.usages: list[dict[str, int]] = []  # the input usage of each, in the same order
        self.counted: list[int] = []  # every count_tokens answer
        self.answered: list[int] = []  # the turn of every scripted answer served
        self.rejected: list[str] = []  # why requests were refused with 400
        self._cached: set[str] = set()
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._handle)

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> FakeAnthropic:
        self.server.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.stop()

    def fail_next(self, *replies: Reply) -> None:
        """Answer the next requests with these replies (errors), before the script resumes."""
        self.server.queue(PATH, *replies)

    def turn_requests(self) -> dict[int, list[dict[str, Any]]]:
        """Well-formed requests by turn."""
        out: dict[int, list[dict[str, Any]]] = {}
        for request in self.requests:
            out.setdefault(_turn_of(request), []).append(request)
        return out

    def _handle(self, seen: Seen) -> Reply:
        if seen.method != "POST" or seen.path not in (PATH, COUNT_PATH):
            return error(404, "not_found_error", f"Not found: {seen.method} {seen.path}")
        # The API reference documents `x-api-key`; the SDK (2.x) sends the key as a bearer token.
        bearer = seen.headers.get("authorization", "").removeprefix("Bearer ")
        if self.api_key not in (seen.headers.get("x-api-key"), bearer):
            return error(401, "authentication_error", "invalid x-api-key")
        if not seen.headers.get("anthropic-version"):
            return error(400, "invalid_request_error", "anthropic-version: header is required")
        try:
            body = seen.json()
        except ValueError:
            return error(400, "invalid_request_error", "The request body is not valid JSON.")
        counting = seen.path == COUNT_PATH
        problem = validate(body, counting)
        if problem:
            self.rejected.append(problem)
            return error(400, "invalid_request_error", problem)
        if body["model"] not in MAX_OUTPUT:
            return error(404, "not_found_error", f"model: {body['model']}")
        size = _tokens(_blocks(body))
        if counting:
            with self._lock:
                self.counted.append(size)
            return Reply(200, {"input_tokens": size})
        if size > self.context_window:
            problem = f"prompt is too long: {size} tokens > {self.context_window} maximum"
            self.rejected.append(problem)
            return error(400, "invalid_request_error", problem)
        with self._lock:
            self.requests.append(body)
            usage = self._usage(body)
            self.usages.append(usage)
            turn = _turn_of(body)
            if turn >= len(self.script):
                return error(500, "api_error", f"fake: no scripted answer for turn {turn}")
            self.answered.append(turn)
            entry = self.script[turn]
        # Outside the lock: a scripted answer may wait (a hung attempt) while a retry arrives.
        reply = entry(body) if callable(entry) else json.loads(json.dumps(entry))
        with self._lock:
            reply["usage"] = {**usage, **reply.get("usage", {})}
        reply.setdefault("id", f"msg_{next(_IDS):06d}")
        reply.setdefault("model", body["model"])
        headers = {"request-id": f"req_{next(_IDS):06d}"}
        if body.get("stream"):
            headers["Content-Type"] = "text/event-stream; charset=utf-8"
            return Reply(200, _events(reply), headers)
        return Reply(200, reply, headers)

    def _usage(self, body: dict[str, Any]) -> dict[str, int]:
        """Input usage as prompt caching reports it. The prompt is a list of blocks (each tool,
        each system block, each message content block, in that order); every breakpoint writes
        the prefix ending at its block, and looks for a cached prefix ending at its own block or
        one of the 19 before it. The longest prefix found is read, the rest up to the last
        breakpoint is written, the remainder is plain input. (Sizes are estimates; the cache never
        expires here.)"""
        blocks = _blocks(body)
        keys, sizes, digest = [], [], hashlib.sha256(body["model"].encode())
        total = 0
        for block in blocks:
            digest.update(json.dumps(_stripped(block), sort_keys=True).encode())
            keys.append(digest.hexdigest())
            total += _tokens(_stripped(block))
            sizes.append(total)
        marks = [n for n, block in enumerate(blocks) if isinstance(block, dict)
                 and "cache_control" in block]
        read = max((sizes[n] for mark in marks for n in range(max(mark - LOOKBACK + 1, 0), mark + 1)
                    if keys[n] in self._cached), default=0)
        written = max(max((sizes[mark] for mark in marks), default=0) - read, 0)
        self._cached.update(keys[mark] for mark in marks)
        return {"input_tokens": max(total - read - written, 0),
                "cache_creation_input_tokens": written, "cache_read_input_tokens": read}


def _events(reply: dict[str, Any]) -> bytes:
    """`reply` as the server-sent events of a streamed answer."""
    usage = reply["usage"]
    start = {**reply, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {**usage, "output_tokens": 1}}
    failure = start.pop("_error_after_start", None)
    events: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start",
                                                                   "message": start})]
    if failure:
        events.append(("error", {"type": "error", "error": {"type": failure,
                                                             "message": "Overloaded"}}))
        return _encode(events)
    for index, block in enumerate(reply["content"]):
        if block["type"] == "tool_use":
            opened, delta = {**block, "input": {}}, {"type": "input_json_delta",
                                                     "partial_json": json.dumps(block["input"])}
        else:
            opened, delta = {"type": "text", "text": ""}, {"type": "text_delta",
                                                           "text": block["text"]}
        events += [("content_block_start", {"type": "content_block_start", "index": index,
                                             "content_block": opened}),
                   ("content_block_delta", {"type": "content_block_delta", "index": index,
                                             "delta": delta}),
                   ("content_block_stop", {"type": "content_block_stop", "index": index})]
    events += [("message_delta", {"type": "message_delta",
                                  "delta": {"stop_reason": reply["stop_reason"],
                                            "stop_sequence": None,
                                            "stop_details": reply.get("stop_details")},
                                  "usage": {"output_tokens": usage.get("output_tokens", 1)}}),
               ("message_stop", {"type": "message_stop"})]
    return _encode(events)


def _encode(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n"
                   for name, data in events).encode()


def _stripped(value: Any) -> Any:
    """`value` without its cache_control marks (they do not change what is cached)."""
    if isinstance(value, dict):
        return {k: _stripped(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_stripped(v) for v in value]
    return value


def _blocks(body: dict[str, Any]) -> list[Any]:
    """The prompt as the cache sees it: each tool, each system block, each message block."""
    system = body.get("system")
    out: list[Any] = list(body.get("tools") or [])
    out += [system] if isinstance(system, str) else list(system or [])
    for msg in body["messages"]:
        content = msg["content"]
        out += [{"role": msg["role"], "text": content}] if isinstance(content, str) else [
            {**block, "role": msg["role"]} if n == 0 else block for n, block in enumerate(content)]
    return out


def _turn_of(body: dict[str, Any]) -> int:
    return sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")
