"""triage.yaml: service dependencies, host aliases and the follow budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from triage.config import ConfigError, parse_config


def _parse(services: list[dict[str, object]], **top: object) -> object:
    return parse_config({"services": services, **top}, Path("."), "triage.yaml")


def test_depends_on_must_name_other_configured_services() -> None:
    config = _parse([{"name": "checkout", "depends_on": ["ledger"], "hosts": ["checkout.*"]},
                     {"name": "ledger"}])
    assert config.services[0].depends_on == ["ledger"]  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match=r"depends_on names \['ledgr'\].*configured: \['checkout'"):
        _parse([{"name": "checkout", "depends_on": ["ledgr"]}, {"name": "ledger"}])
    with pytest.raises(ConfigError, match="depends_on names \\['checkout'\\]"):
        _parse([{"name": "checkout", "depends_on": ["checkout"]}])


def test_follow_budget_is_top_level_or_per_service_and_bounded() -> None:
    config = parse_config({"services": [{"name": "a", "follow": {"hops": 1}}, {"name": "b"}],
                           "follow": {"hops": 3, "max_services": 2}}, Path("."), "t")
    assert config.follow_for(config.services[0]).hops == 1
    assert (config.follow_for(config.services[1]).hops,
            config.follow_for(config.services[1]).max_services) == (3, 2)
    assert config.follow_for(None).hops == 3
    assert parse_config({}, Path("."), "t").follow.hops == 2
    with pytest.raises(ConfigError, match=r"follow\.hops"):
        parse_config({"follow": {"hops": 9}}, Path("."), "t")
    with pytest.raises(ConfigError, match=r"follow\.hop"):
        parse_config({"follow": {"hop": 1}}, Path("."), "t")
