"""Reproduce-and-fix benchmark on the demo repository: what the sandbox costs each step, against
the same step done directly on the host (no isolation) in the same run.

Run from the repository root, in the project's virtualenv (needs bubblewrap):

    python bench/fix.py            # medians of 5
    python bench/fix.py --runs 9

Steps, each timed both ways (host: a plain `git clone` of the bundle and the commands run
directly; sandbox: `LocalBackend.prepare` from the cached mirror and `exec` under bubblewrap):

1. prepare: a checkout of the deployed commit;
2. repro: setup (`compileall`) + the replayed request, the demo's repro;
3. bisect: the repro at the last good deploy, then `git bisect run` over the six commits;
4. verify: revert the culprit, repro + tests on the fixed tree.

Prints each median, the sandbox / host ratio, and the end-to-end total. Exit 0 whatever the
figures (a benchmark, not a test); 1 if the benchmark itself broke.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)  # with bench/ first, `import sandbox` would find bench/sandbox_prepare.py

from sandbox.base import Limits, RepoSpec, SandboxError  # noqa: E402
from sandbox.local import LocalBackend, LocalSandbox  # noqa: E402
from sandbox.workspace import Workspace  # noqa: E402
from triage.fix.bisect import bisect  # noqa: E402
from triage.fix.config import RepoTestCommand, ReproSpec  # noqa: E402
from triage.fix.records import CommitInfo  # noqa: E402
from triage.fix.repro import run_repro  # noqa: E402
from triage.fix.revert import make_revert  # noqa: E402
from triage.fix.template import render  # noqa: E402
from triage.fix.verify import verify  # noqa: E402
from triage.scenarios import load_scenario  # noqa: E402

DEMO = ROOT / "triage" / "demo" / "checkout-bad-deploy"
WHEN = datetime(2026, 11, 20, 13, 50, tzinfo=UTC)


def timed(action: Callable[[], object], runs: int) -> float:
    """Median wall time of `runs` calls, in seconds."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> int:
    """Measure, print, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    config = load_scenario(DEMO).config["services"][0]
    deploys = json.loads((DEMO / "deploys.json").read_text())
    good, bad = deploys[-1]["previous_commit"], deploys[-1]["commit"]
    culprit = load_scenario(DEMO).expectations.culprit_commit
    request = next(json.loads(line)["request"] for line in (DEMO / "logs.jsonl").open()
                   if "request" in line)
    spec = ReproSpec.model_validate(config["repro"])
    tests = RepoTestCommand.model_validate(config["test"])
    values = {"request": json.dumps(request, sort_keys=True)}
    root = Path(tempfile.mkdtemp(prefix="bench-fix-"))
    root.chmod(0o755)  # as root, sandboxes run as nobody and must reach the cache
    try:
        backend = LocalBackend(Workspace(root / "cache"))
        backend.check()
        source = str(DEMO / "repo.bundle")
        backend.prepare(RepoSpec(source, bad)).close()  # the mirror: cloned once, then cached
        host = _host(root, source, bad, spec, values, good, culprit or "", tests, args.runs)
        boxed = _sandboxed(backend, source, bad, spec, values, good, tests, args.runs)
    except SandboxError as exc:
        print(f"sandbox unavailable: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"demo repository: {source} (bad {bad[:12]}, good {good[:12]}); medians of {args.runs}")
    print(f"{'step':<10}{'host':>10}{'sandbox':>10}{'ratio':>8}")
    for step in host:
        print(f"{step:<10}{host[step]:>9.3f}s{boxed[step]:>9.3f}s{boxed[step] / host[step]:>7.1f}x")
    print(f"{'total':<10}{sum(host.values()):>9.3f}s{sum(boxed.values()):>9.3f}s"
          f"{sum(boxed.values()) / sum(host.values()):>7.1f}x")
    return 0


def _host(root: Path, source: str, bad: str, spec: ReproSpec, values: dict[str, str], good: str,
          culprit: str, tests: RepoTestCommand, runs: int) -> dict[str, float]:
    """The same steps with plain git and the commands run directly on the host."""
    command, setup = render(spec.command, values), render(spec.setup or [], values)
    checkout = root / "host"

    def run(*argv: str) -> int:

        """One command in the host checkout; its exit code."""
        return subprocess.run(argv, cwd=checkout, capture_output=True, check=False).returncode

    def prepare() -> None:

        """A fresh checkout of the deployed commit."""
        shutil.rmtree(checkout, ignore_errors=True)
        subprocess.run(["git", "clone", "-q", source, str(checkout)], check=True)
        run("git", "checkout", "-q", "--detach", bad)

    def repro() -> None:

        """Setup, then the replayed request."""
        run(*setup)
        run(*command)

    def bisect_host() -> None:

        """The repro at the last good deploy, then `git bisect run`."""
        script = root / "step.sh"
        script.write_text(f"{' '.join(setup)} >/dev/null 2>&1 || exit 125\n"
                          f"python3 repro.py --request '{values['request']}' >/dev/null 2>&1\n")
        run("git", "checkout", "-q", "--detach", good)
        repro()
        run("git", "checkout", "-q", "--detach", bad)
        run("git", "bisect", "start", bad, good)
        run("git", "bisect", "run", "sh", str(script))
        run("git", "bisect", "reset")

    def verify_host() -> None:

        """Revert the culprit, then the repro and the tests."""
        run("git", "checkout", "-q", "--detach", bad)
        run("git", "-c", "user.name=b", "-c", "user.email=b@localhost", "revert", "--no-edit",
            culprit)
        repro()
        run(*tests.command)
        run("git", "reset", "-q", "--hard", bad)

    measured = {"prepare": timed(prepare, runs)}
    measured |= {"repro": timed(repro, runs), "bisect": timed(bisect_host, runs),
                 "verify": timed(verify_host, runs)}
    return measured


def _sandboxed(backend: LocalBackend, source: str, bad: str, spec: ReproSpec,
               values: dict[str, str], good: str, tests: RepoTestCommand,
               runs: int) -> dict[str, float]:
    """The steps as the fix stage runs them: one sandbox, commands under bubblewrap."""
    boxes: list[LocalSandbox] = []

    def prepare() -> None:

        """A fresh checkout of the deployed commit."""
        while boxes:
            boxes.pop().close()
        boxes.append(backend.prepare(RepoSpec(source, bad), Limits(timeout_seconds=120)))

    measured = {"prepare": timed(prepare, runs)}
    box = boxes[0]
    culprits: list[CommitInfo] = []

    def bisect_box() -> None:

        """The fix stage's bisect."""
        found = bisect(box, spec, values, good, box.commit)
        culprits[:] = found.culprits

    def verify_box() -> None:

        """The fix stage's revert and verification."""
        fix = make_revert(box, box.commit, culprits, "inv_bench", WHEN)
        verify(box, fix, spec, tests, values)

    measured["repro"] = timed(lambda: run_repro(box, spec, values), runs)
    measured["bisect"] = timed(bisect_box, runs)
    measured["verify"] = timed(verify_box, runs)
    box.close()
    return measured


if __name__ == "__main__":
    sys.exit(main())
