"""The Claude brain's settings (`TRIAGE_ANTHROPIC_*`, `TRIAGE_BRAIN_*`): model, limits, prices.

`triage.config.Settings` inherits these fields, so they come from the environment (or secret
files) like every other setting.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from triage.agent.base import Budget
from triage.agent.claude_models import ModelSpec, model_spec, unknown_model

DEFAULT_MODEL = "claude-sonnet-4-6"


class ClaudeSettings(BaseModel):
    """Model, retries, budgets and prices of the Claude brain."""

    anthropic_api_key: SecretStr | None = Field(default=None, description="without it: rules")
    anthropic_base_url: str | None = Field(default=None, description="a proxy, or a test server")
    anthropic_model: str = Field(default=DEFAULT_MODEL, min_length=1)
    anthropic_fallback_model: str | None = Field(
        default=None, description="asked again when the model refuses (stop_reason refusal)")
    anthropic_max_tokens: int = Field(default=4096, ge=256, le=128_000,
                                      description="per turn (at most the model's ceiling)")
    anthropic_max_retries: int = Field(default=4, ge=0, le=10, description="429 / 529 / 5xx")
    anthropic_timeout_seconds: float = Field(default=120.0, gt=0, description="per attempt")
    # Prices and output ceilings by model id, added to (or replacing) the built-in table.
    anthropic_models: dict[str, ModelSpec] = Field(default_factory=dict)
    brain_max_steps: int = Field(default=20, ge=1, le=200, description="model turns")
    brain_max_tool_calls: int = Field(default=60, ge=1)
    brain_max_input_tokens: int = Field(default=600_000, ge=1)
    brain_max_output_tokens: int = Field(default=40_000, ge=1)
    brain_max_seconds: float = Field(default=600.0, gt=0)
    brain_max_cost_usd: float = Field(default=3.0, gt=0)
    brain_max_parallel_tools: int = Field(default=8, ge=1, le=32, description="per turn")
    brain_tool_output_tokens: int = Field(default=2_000, ge=200, description="cap per result")
    brain_command_timeout_seconds: float = Field(default=120.0, gt=0, description="sandbox")
    brain_otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP traces URL for GenAI spans; unset: no spans")


def budget_from(settings: ClaudeSettings) -> Budget:
    """The brain budget these settings describe."""
    return Budget(max_steps=settings.brain_max_steps, max_seconds=settings.brain_max_seconds,
                  max_tool_calls=settings.brain_max_tool_calls,
                  max_input_tokens=settings.brain_max_input_tokens,
                  max_output_tokens=settings.brain_max_output_tokens,
                  max_cost_usd=settings.brain_max_cost_usd)


def model_problem(settings: ClaudeSettings) -> str | None:
    """Why the configured model (or fallback model) cannot be used (no known price), or None."""
    problem = unknown_model(settings.anthropic_model, settings.anthropic_models)
    fallback = settings.anthropic_fallback_model
    if problem is None and fallback:
        problem = unknown_model(fallback, settings.anthropic_models)
        return f"fallback {problem}" if problem else None
    return problem


def budget_lines(settings: ClaudeSettings, brain: str) -> list[str]:
    """`triage config check` lines: what one investigation may spend (what the report shows as
    spent / cap)."""
    if brain != "claude":
        return []
    fallback = settings.anthropic_fallback_model
    return [f"  budget per investigation: ${settings.brain_max_cost_usd:.2f}, "
            f"{settings.brain_max_steps} turns, {settings.brain_max_tool_calls} tool calls, "
            f"{settings.brain_max_input_tokens:,} input / {settings.brain_max_output_tokens:,} "
            f"output tokens, {settings.brain_max_seconds:g} s; {settings.anthropic_max_tokens:,} "
            f"output tokens per turn, {settings.anthropic_max_retries} retries per turn",
            f"  on refusal: {f'ask {fallback}' if fallback else 'the rules brain, with a note'}"]


def brain_status(settings: ClaudeSettings, brain: str) -> str:
    """One line for `triage config check`: which brain runs, and why."""
    if brain != "claude":
        return f"brain: {brain}"
    spec = model_spec(settings.anthropic_model, settings.anthropic_models)
    if spec is None:
        return f"brain: claude — invalid: {model_problem(settings)}"
    if settings.anthropic_api_key is None or not settings.anthropic_api_key.get_secret_value():
        return "brain: claude — disabled: TRIAGE_ANTHROPIC_API_KEY is not set, the rules brain runs"
    return (f"brain: claude ({settings.anthropic_model} at ${spec.input_per_mtok:g} / "
            f"${spec.output_per_mtok:g} per MTok in / out; at most {settings.brain_max_steps} "
            f"turns, ${settings.brain_max_cost_usd:.2f}, {settings.brain_max_seconds:g} s per "
            "investigation)")
