"""OpenTelemetry spans of the Claude brain, by the GenAI semantic conventions (development status,
as of opentelemetry-semantic-conventions 0.66b2): one `invoke_agent triage` span per
investigation, a `chat <model>` client span per live model turn, and an `execute_tool <name>`
span per tool call, with `gen_ai.*` attributes (model, tokens, finish reasons, tool call ids).

Off by default: spans are made only when `TRIAGE_BRAIN_OTLP_ENDPOINT` names an OTLP/HTTP traces
endpoint (a tracer provider of this module's own, batching to that exporter; the process-global
provider is left alone), or when a test hands in a tracer. Replayed turns make no spans: they
were traced when they ran. Span contents are counts, names and ids, never prompt text.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as ga
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

PROVIDER = "anthropic"
AGENT = "triage"


@cache
def otlp_tracer(endpoint: str) -> Tracer:
    """A tracer exporting to `endpoint` over OTLP/HTTP in batches (one provider per endpoint,
    for the life of the process)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "sre-triage"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider.get_tracer("triage.agent.claude")


class Tracing:
    """The spans of one conversation; every method is a no-op without a tracer."""

    def __init__(self, tracer: Tracer | None, investigation_id: str) -> None:
        self.tracer = tracer
        self.investigation_id = investigation_id
        self._parent: otel_context.Context | None = None

    @contextmanager
    def agent(self, model: str) -> Iterator[Span | None]:
        """The `invoke_agent` span around the whole conversation."""
        if self.tracer is None:
            yield None
            return
        with self.tracer.start_as_current_span(
                f"{ga.GenAiOperationNameValues.INVOKE_AGENT.value} {AGENT}", kind=SpanKind.INTERNAL,
                attributes={ga.GEN_AI_OPERATION_NAME: ga.GenAiOperationNameValues.INVOKE_AGENT.value,
                            ga.GEN_AI_PROVIDER_NAME: PROVIDER, ga.GEN_AI_AGENT_NAME: AGENT,
                            ga.GEN_AI_CONVERSATION_ID: self.investigation_id,
                            ga.GEN_AI_REQUEST_MODEL: model}) as span:
            self._parent = trace.set_span_in_context(span)
            try:
                yield span
            finally:
                self._parent = None

    @staticmethod
    def finish_agent(span: Span | None, summary: dict[str, Any], outcome: str | None) -> None:
        """Totals on the agent span; `outcome` is why it stopped early, if it did."""
        if span is None:
            return
        span.set_attribute(ga.GEN_AI_USAGE_INPUT_TOKENS, int(summary.get("all_input_tokens", 0)))
        span.set_attribute(ga.GEN_AI_USAGE_OUTPUT_TOKENS, int(summary.get("all_output_tokens", 0)))
        if outcome is not None:
            span.set_attribute(ERROR_TYPE, "incomplete")
            span.set_status(Status(StatusCode.ERROR, outcome[:200]))

    @contextmanager
    def chat(self, request: dict[str, Any]) -> Iterator[Span | None]:
        """A `chat` client span around one live model turn."""
        if self.tracer is None:
            yield None
            return
        model = str(request["model"])
        with self.tracer.start_as_current_span(
                f"{ga.GenAiOperationNameValues.CHAT.value} {model}", context=self._parent,
                kind=SpanKind.CLIENT, record_exception=False,
                attributes={ga.GEN_AI_OPERATION_NAME: ga.GenAiOperationNameValues.CHAT.value,
                            ga.GEN_AI_PROVIDER_NAME: PROVIDER, ga.GEN_AI_REQUEST_MODEL: model,
                            ga.GEN_AI_REQUEST_MAX_TOKENS: int(request["max_tokens"]),
                            ga.GEN_AI_CONVERSATION_ID: self.investigation_id}) as span:
            yield span

    @staticmethod
    def answered(span: Span | None, response: dict[str, Any]) -> None:
        """The response's id, model, finish reason and token counts on a chat span."""
        if span is None:
            return
        usage = response.get("usage") or {}
        span.set_attribute(ga.GEN_AI_RESPONSE_ID, str(response.get("id") or ""))
        span.set_attribute(ga.GEN_AI_RESPONSE_MODEL, str(response.get("model") or ""))
        span.set_attribute(ga.GEN_AI_RESPONSE_FINISH_REASONS,
                           [str(response.get("stop_reason") or "")])
        input_tokens = sum(int(usage.get(k) or 0) for k in (
            "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
        span.set_attribute(ga.GEN_AI_USAGE_INPUT_TOKENS, input_tokens)
        span.set_attribute(ga.GEN_AI_USAGE_OUTPUT_TOKENS, int(usage.get("output_tokens") or 0))
        span.set_attribute(ga.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
                           int(usage.get("cache_read_input_tokens") or 0))
        span.set_attribute(ga.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
                           int(usage.get("cache_creation_input_tokens") or 0))

    @staticmethod
    def failed(span: Span | None, kind: str, message: str) -> None:
        """Mark a span as failed (`error.type` is a short, bounded kind)."""
        if span is None:
            return
        span.set_attribute(ERROR_TYPE, kind)
        span.set_status(Status(StatusCode.ERROR, message[:200]))

    @contextmanager
    def tool(self, name: str, call_id: str, description: str) -> Iterator[Span | None]:
        """An `execute_tool` span (tools run in worker threads: the parent is passed along)."""
        if self.tracer is None:
            yield None
            return
        with self.tracer.start_as_current_span(
                f"{ga.GenAiOperationNameValues.EXECUTE_TOOL.value} {name}", context=self._parent,
                kind=SpanKind.INTERNAL, record_exception=False,
                attributes={ga.GEN_AI_OPERATION_NAME: ga.GenAiOperationNameValues.EXECUTE_TOOL.value,
                            ga.GEN_AI_PROVIDER_NAME: PROVIDER, ga.GEN_AI_TOOL_NAME: name,
                            ga.GEN_AI_TOOL_CALL_ID: call_id, ga.GEN_AI_TOOL_TYPE: "function",
                            ga.GEN_AI_TOOL_DESCRIPTION: description[:300],
                            ga.GEN_AI_CONVERSATION_ID: self.investigation_id}) as span:
            yield span
