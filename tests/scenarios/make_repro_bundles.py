"""Generate the scenario bundles whose service has a repository, a repro and tests
(`python -m tests.scenarios.make_repro_bundles`); the checkout demo has its own generator.

`profile-deploy-coincidence`: a deploy of the profile service lands minutes before profile pages
start failing with `KeyError: 'avatar_url'`. The rules brain blames the deploy, but replaying the
failing requests against the deployed code passes: the failures came from cache entries the old
version wrote during the rollout, not from the new code. Expected: `not_reproduced`, no fix, and
a verdict that demotes the deploy and abstains.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tests.scenarios.git_repos import History
from tests.scenarios.synth import AT, Deploy, Incident, Shift, write_bundle

BUNDLES = Path(__file__).parent / "bundles"
_USER = re.compile(r"user=(\d+)")

STORE = '''"""Users, as the profile service's database has them."""

USERS = {n: {"name": f"user {n}", "avatar": f"a{n % 7}.png"} for n in range(1000, 100000)}


def user(user_id):
    """One user's row, or None."""
    return USERS.get(int(user_id))
'''

APP = '''"""The profile handler: GET /api/profile/<id> -> (status, payload)."""

import traceback

from profile import store


def render(row):
    """The page's data for one user."""
    return {"name": row["name"], "avatar_url": f"/static/avatars/{row['avatar']}"}


def handle_profile(user_id):
    """Answer GET /api/profile/<user_id>."""
    row = store.user(user_id)
    if row is None:
        return 404, {"error": "no such user"}
    try:
        return 200, render(row)
    except Exception as exc:  # logged, answered 500
        traceback.print_exc()
        return 500, {"error": f"{type(exc).__name__}: {exc}"}
'''

APP_CACHED = APP.replace('''    try:
        return 200, render(row)
''', '''    try:
        page = CACHE.get(user_id) or render(row)
        CACHE[user_id] = page
        return 200, {"name": page["name"], "avatar_url": page["avatar_url"]}
''').replace('''from profile import store
''', '''from profile import store

CACHE = {}  # in production: a shared cache, filled by every version during a rollout
''')

REPRO = '''"""Replay one logged request against the profile handler: exit 1 on a 5xx answer, else 0."""

import argparse
import json
import sys

from profile.app import handle_profile


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--request", required=True, help="the request as logged (JSON)")
    request = json.loads(parser.parse_args().request)
    if request.get("method") != "GET" or not request.get("path", "").startswith("/api/profile/"):
        print("cannot replay this request here", file=sys.stderr)
        return 125
    status, payload = handle_profile(request["path"].rsplit("/", 1)[1])
    print(f"GET {request['path']} -> {status} {json.dumps(payload)}")
    return 1 if status >= 500 else 0


if __name__ == "__main__":
    sys.exit(main())
'''

TESTS = '''import unittest

from profile.app import handle_profile


class ProfileTest(unittest.TestCase):
    def test_a_profile_has_an_avatar(self):
        status, payload = handle_profile("1234")
        self.assertEqual(status, 200)
        self.assertTrue(payload["avatar_url"].endswith(".png"))

    def test_an_unknown_user_is_404(self):
        self.assertEqual(handle_profile("7")[0], 404)


if __name__ == "__main__":
    unittest.main()
'''


def build_profile_repo(path: Path) -> History:
    """Four commits: the service, avatars (the last good deploy), a cache, docs (deployed)."""
    h = History.new(path)
    h.commit("initial", "Profile service", "ana", "2026-10-01T10:00:00+00:00",
             {"profile/__init__.py": '"""The profile service."""\n', "profile/store.py": STORE,
              "profile/app.py": APP.replace('"avatar_url": f"/static/avatars/{row[\'avatar\']}"',
                                            '"avatar_url": None'),
              "repro.py": REPRO, "tests/__init__.py": "", "tests/test_profile.py": ""})
    h.commit("good", "Avatars on profile pages", "ana", "2026-10-06T15:00:00+00:00",
             {"profile/app.py": APP, "tests/test_profile.py": TESTS})
    h.commit("cache", "Cache rendered profiles", "raj", "2026-10-13T16:00:00+00:00",
             {"profile/app.py": APP_CACHED})
    h.commit("bad", "Document the profile cache", "raj", "2026-10-14T08:00:00+00:00",
             {"README.md": "# profile\n\nRendered profiles are cached per user.\n"})
    return h


def incident(shas: dict[str, str]) -> Incident:
    """The telemetry: a deploy, then KeyErrors on a fifth of profile requests."""
    return Incident(
        name="profile-deploy-coincidence", service="profile", source="alertmanager",
        description="A deploy of the profile service lands minutes before profile pages fail with "
                    "KeyError; the failing requests pass against the deployed code (stale cache "
                    "entries from the old version caused them): not reproduced, so no fix.",
        alert_title="ProfileErrorRate: profile 5xx ratio above 2%", alert_at=AT,
        onset_minutes_before=8,
        incident_errors=[("KeyError: 'avatar_url' in profile.render() user={n}", 0.2)],
        baseline_errors=["slow avatar resize took {ms}ms"],
        metrics={"http_requests_total": Shift(500, 505), "http_errors_total": Shift(1, 100, 0.2),
                 "http_latency_p99_ms": Shift(80, 85)},
        deploys=[Deploy(8 * 24 * 60, shas["good"], "ana", "Avatars on profile pages",
                        ["profile/app.py"]),
                 Deploy(12, shas["bad"], "raj", "Cache rendered profiles",
                        ["README.md", "profile/app.py"])],
        # The verdict demotes the deploy the reproduction cleared: nothing is blamed.
        expectations={"abstains": True, "repro_verdict": "not_reproduced",
                      "fix_verified": False,
                      "report_contains": ["not reproduced", "no fix is proposed"]},
        seed=11,
    )


def service_config() -> dict[str, Any]:
    """What the scenario's service gains: its repository, repro and tests."""
    return {
        "repository": "repo.bundle",
        "repro": {"command": ["python3", "repro.py", "--request", "{request}"],
                  "setup": ["python3", "-m", "compileall", "-q", "profile", "repro.py"],
                  "expect": "KeyError: 'avatar_url'", "timeout": 60, "setup_timeout": 120,
                  "inputs": {"request": {"kind": "logs", "match": "KeyError: 'avatar_url'",
                                         "field": "request"}}},
        "test": {"command": ["python3", "-m", "unittest", "-q"], "timeout": 120},
    }


def write_profile_bundle(root: Path) -> Path:
    """Render the bundle, then give it the repository, the deploys' real commits and the repro."""
    with tempfile.TemporaryDirectory(prefix="profile-repo-") as tmp:
        history = build_profile_repo(Path(tmp) / "profile")
        folder = write_bundle(incident(history.shas), root)
        history.bundle(folder / "repo.bundle")
    deploys = json.loads((folder / "deploys.json").read_text())
    deploys[-1]["previous_commit"] = history.shas["good"]
    (folder / "deploys.json").write_text(json.dumps(deploys, indent=2) + "\n")
    lines = [json.loads(line) for line in (folder / "logs.jsonl").read_text().splitlines()]
    for line in lines:
        if (found := _USER.search(line["message"])) and "KeyError" in line["message"]:
            line["request"] = {"method": "GET", "path": f"/api/profile/{found[1]}"}
    (folder / "logs.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    scenario = yaml.safe_load((folder / "scenario.yaml").read_text())
    scenario["config"]["services"][0].update(service_config())
    scenario["config"]["sandbox"] = "local"
    (folder / "scenario.yaml").write_text(yaml.safe_dump(scenario, sort_keys=False))
    return folder


if __name__ == "__main__":
    print(write_profile_bundle(BUNDLES))
