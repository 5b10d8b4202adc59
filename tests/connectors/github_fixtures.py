"""The GitHub fake's data and credentials, and helpers the GitHub test modules build fixtures from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors import build_connector
from connectors.github.connector import GitHubConnector
from tests.connectors._util import iso
from tests.fakes import github_shapes as shapes
from tests.fakes.github import App, FakeGitHub, Token

REPO = "acme/checkout"
BAD = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
DEPS = "1a2b3c4d5e6f708192a3b4c5d6e7f80912345678"
GOOD = "0000aaaa1111bbbb2222cccc3333dddd4444eeee"
SECRET = "github_pat_S3CRET_fine_71d2"  # planted: must never show up in output
TOKENS = {
    SECRET: Token("fine", push=True),
    "github_pat_readonly_owner": Token("fine", push=False),
    "ghp_classic_rw_0001": Token("classic", scopes="read:org, repo", push=True),
    "ghp_classic_ro_0002": Token("classic", scopes="read:org", push=True),
}
APP_ID, INSTALLATION = 321, 654
APP_GRANTS = {"contents": "write", "deployments": "read", "metadata": "read", "pull_requests": "write"}
PATCH = ("@@ -1,3 +1,3 @@\n def total(items):\n-    return sum(i.price for i in items)\n"
         "+    return round(sum(i.price for i in items))\n")


def new_key() -> tuple[str, str]:
    """A fresh RSA key pair (private PEM, public PEM) for a GitHub App."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def populate(fake: FakeGitHub, public_key: str) -> None:
    """Commits, deployments, releases and files around T0 (2024-05-01T12:00Z)."""
    fake.tokens = dict(TOKENS)
    fake.apps = [App(APP_ID, INSTALLATION, public_key, APP_GRANTS)]
    older = [shapes.commit(REPO, f"{n:040x}", iso(-86_400 - 60 * n), f"chore: tidy {n}", "bot")
             for n in range(1, 151)]
    fake.commits = [
        shapes.commit(REPO, BAD, iso(600), "Switch cart totals to decimal\n\nLong body.", "lee", parent=DEPS),
        shapes.commit(REPO, DEPS, iso(300), "Bump dependencies", "kim", parent=GOOD),
        shapes.commit(REPO, GOOD, iso(-7200), "Fix rounding in tax", "kim"),
        *older,
    ]
    fake.commit_paths = {BAD: {"src/cart.py"}, DEPS: {"requirements.txt"}, GOOD: {"src/cart.py"}}
    fake.commit_files = {BAD: [
        shapes.diff_entry(REPO, BAD, "src/cart.py", 1, 1, PATCH),
        shapes.diff_entry(REPO, BAD, "tests/test_cart.py", 12, 0, "@@ -0,0 +1,12 @@\n+...", "added"),
        shapes.diff_entry(REPO, BAD, "assets/logo.png", 0, 0, None),
    ]}
    fake.deployments = [
        shapes.deployment(REPO, 3, BAD, "production", iso(1200), "lee", "cart decimal"),
        shapes.deployment(REPO, 2, DEPS, "staging", iso(480), "kim"),
        shapes.deployment(REPO, 1, GOOD, "production", iso(-7200), "kim"),
        shapes.deployment(REPO, 0, GOOD, "production", iso(-86_400), "kim"),
    ]
    fake.statuses = {3: [shapes.deployment_status(REPO, 3, 31, "success", iso(1260)),
                         shapes.deployment_status(REPO, 3, 30, "in_progress", iso(1210))],
                     2: [shapes.deployment_status(REPO, 2, 20, "failure", iso(500))]}
    fake.releases = [
        shapes.release(REPO, 13, "v1.5.0-draft", iso(1700), None),
        shapes.release(REPO, 12, "v1.4.0", iso(1400), iso(1500), target=BAD),
        shapes.release(REPO, 11, "v1.3.0", iso(-86_400 * 3), iso(-86_400 * 3)),
    ]
    fake.files = {("src/cart.py", BAD): b"def total(items):\n    return round(sum(i.price for i in items))\n",
                  ("src/tax.py", BAD): b"RATE = 0.2\n",
                  ("assets/logo.png", BAD): b"\x89PNG\r\n\x1a\n\x00\xff\xfe"}


def start_fake(public_key: str) -> FakeGitHub:
    """The fake, populated; the test module stops it."""
    server = FakeGitHub(REPO)
    populate(server, public_key)
    return server


def fresh(fake: FakeGitHub, private_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before each test: no scripted answers, no request log, credentials in the environment."""
    fake.server.reset()
    fake.exchanges.clear()
    monkeypatch.setenv("GH_TEST_TOKEN", SECRET)
    monkeypatch.setenv("GH_TEST_APP_KEY", private_key)


def make(fake: FakeGitHub, tmp_path: Path, **extra: Any) -> GitHubConnector:
    """A connector on the fake; token auth unless `app=...` is given."""
    raw: dict[str, Any] = {"type": "github", "repository": REPO, "base_url": fake.api_url,
                           "timeout_seconds": 2, **extra}
    if "app" not in raw:
        raw.setdefault("token", {"env": "GH_TEST_TOKEN"})
    conn = build_connector("gh", raw, tmp_path)
    assert isinstance(conn, GitHubConnector)
    return conn


def app_settings(**extra: Any) -> dict[str, Any]:
    return {"app_id": APP_ID, "installation_id": INSTALLATION,
            "private_key": {"env": "GH_TEST_APP_KEY"}, **extra}
