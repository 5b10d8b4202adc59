"""What each Claude model costs and how much it may write: the price table the brain's meter
and cost budget use, keyed by model id.

List prices in USD per million tokens from platform.claude.com/docs "Pricing" and the model
overview pages (checked 2026-12-03); cache writes at the 5-minute rate, which is the one the
brain's `cache_control: ephemeral` breakpoints use. Models priced by prompt length (Haiku 5.5)
are left out on purpose: a single rate would under-report. Any model can be added or re-priced
with `TRIAGE_ANTHROPIC_MODELS` (JSON, `{"model-id": {"input_per_mtok": ..., ...}}`); a model in
neither is an error of `triage config check`, and the brain does not call the API with it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ModelSpec(BaseModel):
    """One model's list prices (USD per million tokens) and its output-token ceiling."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cache_write_per_mtok: float = Field(ge=0, description="5-minute cache writes")
    cache_read_per_mtok: float = Field(ge=0)
    max_output_tokens: int = Field(ge=1, description="the API refuses a larger max_tokens")
    context_window: int = Field(default=200_000, ge=1024, description="input + output tokens")


def _spec(inp: float, out: float, write: float, read: float, max_out: int) -> ModelSpec:
    return ModelSpec(input_per_mtok=inp, output_per_mtok=out, cache_write_per_mtok=write,
                     cache_read_per_mtok=read, max_output_tokens=max_out)


_SONNET_4 = _spec(3.0, 15.0, 3.75, 0.30, 64_000)
_OPUS_45 = _spec(5.0, 25.0, 6.25, 0.50, 64_000)
_OPUS_46 = _spec(5.0, 25.0, 6.25, 0.50, 128_000)
_HAIKU_45 = _spec(1.0, 5.0, 1.25, 0.10, 64_000)
_SONNET_5 = _spec(2.0, 10.0, 2.50, 0.20, 128_000)

MODELS: dict[str, ModelSpec] = {
    "claude-sonnet-4-6": _SONNET_4,
    "claude-sonnet-4-5": _SONNET_4,
    "claude-sonnet-4-5-20250929": _SONNET_4,
    "claude-opus-4-5": _OPUS_45,
    "claude-opus-4-5-20251101": _OPUS_45,
    "claude-opus-4-6": _OPUS_46,
    "claude-opus-4-7": _OPUS_46,
    "claude-opus-4-8": _OPUS_46,
    "claude-opus-5": _OPUS_46,
    "claude-opus-5-5": _spec(4.0, 20.0, 5.0, 0.20, 128_000),
    "claude-haiku-4-5": _HAIKU_45,
    "claude-haiku-4-5-20251001": _HAIKU_45,
    "claude-sonnet-5": _SONNET_5,
    "claude-sonnet-5-5": _SONNET_5,  # the page lists $0.20 cache reads; an override can lower it
    "claude-fable-5": _spec(10.0, 50.0, 12.5, 1.0, 128_000),
    "claude-fable-5-1": _spec(10.0, 50.0, 12.5, 0.25, 128_000),
}


def model_spec(model: str, overrides: dict[str, ModelSpec]) -> ModelSpec | None:
    """The prices and limits of `model`: the settings' entry, else the built-in table's."""
    return overrides.get(model) or MODELS.get(model)


def unknown_model(model: str, overrides: dict[str, ModelSpec]) -> str | None:
    """Why `model` cannot be used (no price known), or None when it can."""
    if model_spec(model, overrides) is not None:
        return None
    return (f"model {model!r} has no price: use one of {', '.join(sorted(MODELS))}, or give "
            "its prices in TRIAGE_ANTHROPIC_MODELS")
