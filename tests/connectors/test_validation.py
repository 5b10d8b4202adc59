"""Validation errors name the field, and a misspelled key the key that was meant."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from connectors import ConnectorConfigError, validate_settings
from connectors.validation import describe_errors


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timeout_seconds: int = 1


class Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Inner] = []
    named: dict[str, Inner] = {}
    maybe: Inner | None = None


def message(raw: dict[str, object]) -> str:
    with pytest.raises(ValidationError) as caught:
        Outer.model_validate(raw)
    return describe_errors(caught.value, Outer)


def test_a_typo_at_each_depth_suggests_the_key() -> None:
    assert message({"itemz": []}) == "itemz: Extra inputs are not permitted (did you mean 'items'?)"
    assert message({"items": [{}, {"timeout_second": 3}]}) == (
        "items.1.timeout_second: Extra inputs are not permitted (did you mean 'timeout_seconds'?)")
    assert message({"named": {"a": {"timeout": 3}}}).endswith("(did you mean 'timeout_seconds'?)")
    assert message({"maybe": {"timeout_secs": 3}}).endswith("(did you mean 'timeout_seconds'?)")


def test_a_key_like_none_lists_the_known_ones() -> None:
    assert message({"zzz": 1}) == ("zzz: Extra inputs are not permitted "
                                   "(known keys: items, named, maybe)")


def test_other_errors_are_unchanged() -> None:
    assert message({"items": [{"timeout_seconds": "x"}]}) == (
        "items.0.timeout_seconds: Input should be a valid integer, unable to parse string as an "
        "integer")


def test_a_connector_setting_typo_suggests_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConnectorConfigError) as caught:
        validate_settings("logs", {"type": "files_logs", "path": "x.jsonl", "mesage_field": "m"},
                          tmp_path)
    assert "mesage_field: Extra inputs are not permitted (did you mean 'message_field'?)" \
        in str(caught.value)
