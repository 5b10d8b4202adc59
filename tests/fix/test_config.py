"""`repro:`, `test:` and `pull_requests:` in triage.yaml (and `repro:` in a playbook): a mistake is
a precise error naming the field, never a repro that fails later."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from triage.config import ConfigError, parse_config
from triage.playbook import PlaybookError, load_playbook

REPRO = {"command": ["python3", "repro.py", "{request}"],
         "inputs": {"request": {"match": "TypeError", "field": "request"}}}


def service(**extra: Any) -> dict[str, Any]:
    return {"services": [{"name": "checkout", "repository": "repo.bundle", **extra}],
            "sandbox": "local"}


def test_a_full_fix_configuration_is_accepted(tmp_path: Path) -> None:
    config = parse_config(service(repro={**REPRO, "setup": ["make"], "expect": "TypeError",
                                         "env": {"APP_ENV": "test"}, "timeout": 30},
                                  test={"command": ["make", "test"]},
                                  pull_requests={"repository": "acme/checkout",
                                                 "token": {"env": "GH_TOKEN"}}),
                          tmp_path, "triage.yaml")
    svc = config.services[0]
    assert svc.repro is not None and svc.repro.inputs["request"].pick == "last"
    assert svc.test is not None and svc.test.timeout == 600
    assert svc.pull_requests is not None
    assert svc.pull_requests.resolved_push_url() == "https://github.com/acme/checkout.git"
    assert config.sandbox == "local"


@pytest.mark.parametrize(("section", "message"), [
    ({"repro": {"command": ["run", "{nope}"]}},
     "services.0.repro: Value error, unknown placeholder {nope} in '{nope}'; known: "
     "alert_started_at, alert_title, commit, investigation_id, service"),
    ({"repro": {"command": ["echo", "{oops"]}}, "stray '{' in '{oops'"),
    ({"repro": {"command": []}}, "services.0.repro.command: Value error, a command needs at "
                                 "least the program to run"),
    ({"repro": {"command": ["x"], "timeout": 0}}, "services.0.repro.timeout: Input should be "
                                                  "greater than 0"),
    ({"repro": {"command": ["x"], "env": {"BAD-NAME": "1"}}},
     "not an environment variable name: 'BAD-NAME'"),
    ({"repro": {"command": ["x"], "expect": "two\nlines"}}, "expect is one line of text"),
    ({"repro": {"command": ["x"], "inputs": {"r": {"match": "("}}}},
     "services.0.repro.inputs.r.match: Value error, invalid regex '('"),
    ({"repro": {"command": ["x"], "inputs": {"commit": {"match": "x"}}}},
     "input 'commit' shadows a built-in variable"),
    ({"repro": {"command": ["x"], "shell": True}}, "services.0.repro.shell: Extra inputs are "
                                                   "not permitted"),
    ({"test": {"command": [""]}}, "services.0.test.command: Value error, the program name is "
                                  "empty"),
    ({"pull_requests": {"repository": "acme"}}, "repository must be OWNER/NAME, not 'acme'"),
    ({"pull_requests": {"repository": "acme/checkout"}},
     "pull_requests needs exactly one of `token` or `app`"),
    ({"pull_requests": {"repository": "acme/checkout", "token": {"env": "T"},
                        "branch_prefix": "../x/"}}, "branch_prefix must look like 'triage/'"),
])
def test_mistakes_name_the_field(tmp_path: Path, section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(service(**section), tmp_path, "triage.yaml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("triage.yaml: ")


def test_literal_braces_are_written_doubled(tmp_path: Path) -> None:
    config = parse_config(service(repro={"command": ["jq", "{{.a}}", "{commit}"]}), tmp_path, "t")
    assert config.services[0].repro is not None


def test_a_playbook_can_carry_a_repro_and_its_errors_have_a_line(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("name: with-repro\nrepro:\n  command: [make, repro]\n  timeout: 60\n")
    assert load_playbook(good).repro is not None
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: broken\nrepro:\n  command: [make]\n  timeout: -1\n")
    with pytest.raises(PlaybookError, match=r"bad.yaml:4: repro.timeout: Input should be greater"):
        load_playbook(bad)
