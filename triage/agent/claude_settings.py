"""The Claude brain's settings (`TRIAGE_ANTHROPIC_*`, `TRIAGE_BRAIN_*`): model, limits, prices.

`triage.config.Settings` inherits these fields, so they come from the environment (or secret
files) like every other setting.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from triage.agent.base import Budget

DEFAULT_MODEL = "claude-sonnet-4-6"


class ClaudeSettings(BaseModel):
    """Model, retries, budgets and prices of the Claude brain."""

    anthropic_api_key: SecretStr | None = Field(default=None, description="without it: rules")
    anthropic_base_url: str | None = Field(default=None, description="a proxy, or a test server")
    anthropic_model: str = Field(default=DEFAULT_MODEL, min_length=1)
    anthropic_max_tokens: int = Field(default=4096, ge=256, le=64_000, description="per turn")
    anthropic_max_retries: int = Field(default=4, ge=0, le=10, description="429 / 529 / 5xx")
    anthropic_timeout_seconds: float = Field(default=120.0, gt=0, description="per request")
    # USD per million tokens (Claude Sonnet 4.6 list prices; cache writes at the 5-minute rate).
    anthropic_price_input_per_mtok: float = Field(default=3.0, ge=0)
    anthropic_price_output_per_mtok: float = Field(default=15.0, ge=0)
    anthropic_price_cache_write_per_mtok: float = Field(default=3.75, ge=0)
    anthropic_price_cache_read_per_mtok: float = Field(default=0.30, ge=0)
    brain_max_steps: int = Field(default=20, ge=1, le=200, description="model turns")
    brain_max_tool_calls: int = Field(default=60, ge=1)
    brain_max_input_tokens: int = Field(default=600_000, ge=1)
    brain_max_output_tokens: int = Field(default=40_000, ge=1)
    brain_max_seconds: float = Field(default=600.0, gt=0)
    brain_max_cost_usd: float = Field(default=3.0, gt=0)
    brain_max_parallel_tools: int = Field(default=8, ge=1, le=32, description="per turn")
    brain_tool_output_tokens: int = Field(default=2_000, ge=200, description="cap per result")
    brain_command_timeout_seconds: float = Field(default=120.0, gt=0, description="sandbox")


def budget_from(settings: ClaudeSettings) -> Budget:
    """The brain budget these settings describe."""
    return Budget(max_steps=settings.brain_max_steps, max_seconds=settings.brain_max_seconds,
                  max_tool_calls=settings.brain_max_tool_calls,
                  max_input_tokens=settings.brain_max_input_tokens,
                  max_output_tokens=settings.brain_max_output_tokens,
                  max_cost_usd=settings.brain_max_cost_usd)


def brain_status(settings: ClaudeSettings, brain: str) -> str:
    """One line for `triage config check`: which brain runs, and why."""
    if brain != "claude":
        return f"brain: {brain}"
    if settings.anthropic_api_key is None or not settings.anthropic_api_key.get_secret_value():
        return "brain: claude — disabled: TRIAGE_ANTHROPIC_API_KEY is not set, the rules brain runs"
    return (f"brain: claude ({settings.anthropic_model}; at most {settings.brain_max_steps} turns, "
            f"${settings.brain_max_cost_usd:.2f}, {settings.brain_max_seconds:g} s per "
            "investigation)")
