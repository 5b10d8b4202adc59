"""A world's service as a small deterministic git repository: a few commits up to the last good
deploy, then the deployed range (several commits; the culprit, if any, is never the last)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from tests.scenarios.git_repos import History
from tests.scenarios.worlds import service_code as code
from tests.scenarios.worlds.changes import Change, Defaults

AUTHORS = ["mara", "kim", "lee", "ana", "raj", "ines", "tom"]


@dataclass
class Repo:
    """The repository's history and what the deploys and expectations need from it."""

    history: History
    good: str
    deployed: str
    culprit: str | None
    files: list[str] = field(default_factory=list)  # touched by the deployed range
    subjects: list[str] = field(default_factory=list)


def _when(t: datetime) -> str:
    return t.replace(microsecond=0).isoformat()


def _fillers(pkg: str, release: str) -> list[tuple[str, dict[str, str | None]]]:
    """Harmless commits a deploy carries besides the culprit."""
    return [
        ("Document the quote endpoint", {"docs/quote.md": "# Quotes\n\nPOST a cart, get a total.\n"}),
        ("Runbook: who to page", {"docs/runbook.md": "# Runbook\n\nPage #core-oncall.\n"}),
        ("Tidy the formatting helper", {f"{pkg}/formatting.py": code.source(
            code.FORMATTING, pkg, "").replace('"""`12.50 USD`."""',
                                              '"""An amount with its currency: `12.50 USD`."""')}),
        ("Note the new quote fields in the changelog",
         {"CHANGELOG.md": f"# Changelog\n\n## {release}\n\n- quote fields\n"}),
        ("Add a contributing guide", {"CONTRIBUTING.md": "Run `python3 -m unittest` before pushing.\n"}),
    ]


def build(path: Path, service: str, pkg: str, defaults: Defaults, change: Change | None,
          deploy_at: datetime, rng: random.Random) -> Repo:
    """Write the history; the deployed range's commits fall in the day before `deploy_at`."""
    h = History.new(path)
    first = {name.replace("PKG", pkg): text for name, text in {
        "PKG/__init__.py": f'"""The {service} service."""\n',
        "PKG/logic.py": code.source(code.LOGIC, pkg, service),
        "PKG/config.py": code.source(code.CONFIG, pkg, service, timeout=defaults.timeout,
                                     maxitems=defaults.max_items),
        "config/settings.yaml": code.source(code.SETTINGS_YAML, pkg, service,
                                            poolsize=defaults.pool_size),
        "PKG/settings.py": code.source(code.SETTINGS, pkg, service),
        "PKG/handlers.py": code.source(code.HANDLERS, pkg, service),
        "repro.py": code.source(code.REPRO, pkg, service),
        "tests/__init__.py": "", "tests/test_quote.py": code.source(code.TESTS, pkg, service),
    }.items()}
    authors = rng.sample(AUTHORS, 3)
    h.commit("initial", f"{service}: quote service", authors[0], _when(deploy_at - timedelta(days=40)),
             first)
    h.commit("formatting", "Money formatting helper", authors[1],
             _when(deploy_at - timedelta(days=rng.randint(12, 25))),
             {f"{pkg}/formatting.py": code.source(code.FORMATTING, pkg, service),
              "tests/test_formatting.py": code.source(code.FORMATTING_TEST, pkg, service)})
    good = h.commit("good", "README", authors[0], _when(deploy_at - timedelta(days=rng.randint(3, 9))),
                    {"README.md": f"# {service}\n\nQuotes for carts.\n"})
    release = deploy_at.strftime("%Y.%m.%d")
    fillers = rng.sample(_fillers(pkg, release), rng.randint(2, 4))
    plan: list[tuple[str, str, dict[str, str | None]]] = [(f"f{i}", s, f) for i, (s, f) in
                                                           enumerate(fillers)]
    if change is not None:
        target = change.path.replace("PKG", pkg)
        plan.insert(rng.randint(0, len(plan) - 1),  # never last: a release commit follows
                    ("culprit", change.subject, {target: change.apply(first[target])}))
    plan.append(("release", f"Release {release}", {"VERSION": f"{release}\n"}))
    start = deploy_at - timedelta(hours=rng.randint(6, 20))
    step = (deploy_at - timedelta(minutes=30) - start) / len(plan)
    touched: set[str] = set()
    for i, (label, subject, files) in enumerate(plan):
        h.commit(label, subject, rng.choice(authors), _when(start + step * i), files)
        touched |= set(files)
    return Repo(h, good, h.shas["release"], h.shas.get("culprit"), sorted(touched),
                [s for _, s, _ in plan])
