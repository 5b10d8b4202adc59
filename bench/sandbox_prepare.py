"""Sandbox preparation benchmark: our checkout from a cached mirror, against a full `git clone`.

Run from the repository root, in the project's virtualenv:

    python bench/sandbox_prepare.py                  # 2,000 commits, >= 50 MB of history
    python bench/sandbox_prepare.py --commits 5000 --runs 9 --keep

What one run does:

1. Generates a repository with `git fast-import` from a seeded random source (same seed, same
   repository, byte for byte): 300 text files and 100 binary assets to start with, then each
   commit rewrites 20 lines of two text files and replaces one 24 KB asset, so history (packed,
   >= 50 MB: random bytes do not compress) dwarfs the working tree, as in real repositories.
2. Baseline: a full `git clone file://…` (the regular transport: pack, transfer, index, checkout;
   what a clone from a server costs, minus the network), median of `--runs`, and its disk use.
3. Ours: `Workspace.checkout` with the mirror already cached (the steady state: later runs only
   fetch), median of `--runs` different commits; the first use (mirror clone) is shown apart.
   When bubblewrap works here, also `LocalBackend.prepare` (checkout + sandbox files + handing
   the tree to the sandbox user) and one `exec` round trip.
4. The strategies measured to choose the checkout method (see sandbox/workspace.py): `git
   worktree add`, `clone --shared` + checkout, `init` + alternates + checkout (ours), overlayfs
   over a base tree (root only), `cp --reflink` (where the filesystem supports it).
5. Prints the ratio clone / prepare, the disk cost per sandbox, and whether the goal (>= 10x
   faster than a clone) is met.

Exit code 0 whatever the figures (a benchmark, not a test); 1 if the benchmark itself broke.
Everything happens in a temporary directory, removed at the end unless `--keep`.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

# This script is named like the package it measures: `python bench/sandbox_prepare.py` puts bench/ first
# on the import path, where `import sandbox` would find this file. Look from the root instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from sandbox.base import RepoSpec, SandboxError
from sandbox.workspace import Workspace

GOAL_RATIO = 10.0
LINE = 64  # hex characters per line of a text file


def generate(dest: Path, commits: int, seed: int) -> None:
    """A bare repository of `commits` commits on main, from `seed` (deterministic)."""
    rnd = random.Random(seed)

    def lines(count: int) -> list[bytes]:
        """`count` random lines of hex text."""
        return [rnd.randbytes(LINE // 2).hex().encode() for _ in range(count)]

    texts = {f"src/pkg{i % 20}/mod{i}.py": lines(200) for i in range(300)}
    assets = {f"assets/blob{i}.bin": rnd.randbytes(64 * 1024) for i in range(100)}
    subprocess.run(["git", "init", "-q", "--bare", str(dest)], check=True)
    proc = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=dest, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    out = proc.stdin

    def data(body: bytes) -> None:
        """One fast-import data block."""
        out.write(b"data %d\n%s\n" % (len(body), body))

    for n in range(commits):
        out.write(b"commit refs/heads/main\n")
        out.write(b"committer Bench <bench@example.invalid> %d +0000\n" % (1_600_000_000 + 60 * n))
        data(f"change {n}".encode())
        if n == 0:
            changed = [*texts, *assets]
        else:
            changed = rnd.sample(sorted(texts), 2)
            for name in changed:
                at = rnd.randrange(len(texts[name]) - 20)
                texts[name][at:at + 20] = lines(20)
            asset = f"assets/blob{rnd.randrange(100)}.bin"
            assets[asset] = rnd.randbytes(24 * 1024)
            changed.append(asset)
        for name in changed:
            body = assets[name] if name in assets else b"\n".join(texts[name]) + b"\n"
            out.write(f"M 100644 inline {name}\n".encode())
            data(body)
        out.write(b"\n")
    out.close()
    if proc.wait() != 0:
        raise RuntimeError("git fast-import failed")
    subprocess.run(["git", "-C", str(dest), "repack", "-adq"], check=True)


def disk_usage(path: Path) -> int:
    """Bytes allocated under `path` (hard links counted once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for base, _, files in os.walk(path):
        for name in [".", *files]:
            info = os.lstat(os.path.join(base, name))
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_blocks * 512
    return total


def timed(action: Callable[[], object]) -> float:
    """Seconds `action` took."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def git(*args: str, cwd: Path | None = None) -> str:
    """Run git quietly; its stdout."""
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


def mb(size: float) -> str:
    """Bytes as MB."""
    return f"{size / 1e6:.1f} MB"


def strategies(mirror: Path, shas: list[str], work: Path) -> dict[str, tuple[float, int] | str]:
    """Median prepare time and disk use of each checkout method, or why it could not run."""
    results: dict[str, tuple[float, int] | str] = {}

    def measure(name: str, make: Callable[[Path, str], object]) -> None:
        """Time `make` once per commit; record medians under `name`."""
        times: list[float] = []
        sizes: list[int] = []
        for i, sha in enumerate(shas):
            dest = work / f"{name.split()[0]}-{i}"
            started = time.perf_counter()
            make(dest, sha)
            times.append(time.perf_counter() - started)
            sizes.append(disk_usage(dest))
        results[name] = (statistics.median(times), int(statistics.median(sizes)))

    measure("worktree add --detach",
            lambda d, s: git("-C", str(mirror), "worktree", "add", "-q", "--detach", str(d), s))

    def shared(dest: Path, sha: str) -> None:
        """clone --shared, then check out."""
        git("clone", "-q", "--shared", "--no-checkout", str(mirror), str(dest))
        git("-C", str(dest), "checkout", "-q", "--detach", sha)

    measure("clone --shared + checkout", shared)

    def alternates(dest: Path, sha: str) -> None:
        """What Workspace.checkout does."""
        git("init", "-q", "--template=", str(dest))
        (dest / ".git/objects/info").mkdir(parents=True, exist_ok=True)
        (dest / ".git/objects/info/alternates").write_text(f"{mirror / 'objects'}\n")
        git("-C", str(dest), "-c", "checkout.workers=0", "checkout", "-q", "--detach", sha)

    measure("init + alternates + checkout", alternates)
    results["overlayfs over a base tree"] = _overlay(work, mirror, shas[0])
    results["cp --reflink"] = _reflink(work)
    return results


def _overlay(work: Path, mirror: Path, sha: str) -> tuple[float, int] | str:
    """Mount time of an overlay over one base checkout (needs CAP_SYS_ADMIN)."""
    base = work / "overlay-base"
    git("clone", "-q", "--shared", "--no-checkout", str(mirror), str(base))
    git("-C", str(base), "checkout", "-q", "--detach", sha)
    times = []
    for i in range(5):
        upper, scratch, merged = (work / f"ov{i}-{part}" for part in ("up", "work", "merged"))
        for path in (upper, scratch, merged):
            path.mkdir()
        options = f"lowerdir={base},upperdir={upper},workdir={scratch}"
        started = time.perf_counter()
        done = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(merged)],
                              capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            return f"unavailable: {done.stderr.strip() or 'mount failed'}"
        subprocess.run(["umount", str(merged)], check=True)
    return statistics.median(times), disk_usage(work / "ov0-up")


def _reflink(work: Path) -> tuple[float, int] | str:
    """Whether this filesystem can clone files (btrfs, xfs); the time is not measured further."""
    src = work / "reflink-src"
    src.write_bytes(os.urandom(1 << 20))
    done = subprocess.run(["cp", "--reflink=always", str(src), str(work / "reflink-dst")],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return f"unavailable: {done.stderr.strip().rsplit(': ', 1)[-1]}"
    return "available on this filesystem (not the default: overlay-like per-commit base needed)"


def main() -> int:
    """Generate, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--runs", type=int, default=5, help="measurements per figure (median)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="triage-bench-sandbox-"))
    tmp.chmod(0o755)  # sandboxes may run as another uid, which must traverse it
    try:
        return _run(tmp, args.commits, args.seed, max(args.runs, 1))
    except (subprocess.CalledProcessError, RuntimeError, SandboxError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _run(tmp: Path, commits: int, seed: int, runs: int) -> int:
    """The measurements."""
    source = tmp / "source.git"
    took = timed(lambda: generate(source, commits, seed))
    packed = disk_usage(source / "objects")
    head_files = git("-C", str(source), "ls-tree", "-r", "--name-only", "main").split()
    print(f"repository: {commits} commits, {mb(packed)} packed history, "
          f"{len(head_files)} files at HEAD (generated in {took:.1f} s, seed {seed})")

    workspace = Workspace(tmp / "cache")
    first = timed(lambda: workspace.mirror(str(source)))
    shas = git("-C", str(source), "rev-list", "--max-count", str(runs * 2 + 1), "--skip", "50",
               "main").split()
    workspace.checkout(str(source), shas[-1], tmp / "warm-up")  # page cache, like a later run
    # Interleaved, so that both see the same machine: other load shifts both medians alike.
    clones: list[float] = []
    times: list[float] = []
    for i, sha in enumerate(shas[:runs]):
        clones.append(timed(partial(git, "clone", "-q", f"file://{source}", str(tmp / f"clone{i}"))))
        times.append(timed(partial(workspace.checkout, str(source), sha, tmp / f"co{i}")))
    clone_time, clone_disk = statistics.median(clones), disk_usage(tmp / "clone0")
    print(f"full git clone file:// (median of {runs}):  {clone_time:.3f} s, "
          f"{mb(clone_disk)} on disk per clone")
    print(f"mirror, first use only (clone --mirror):  {first:.3f} s")
    prepare, disk = statistics.median(times), disk_usage(tmp / "co0")
    ratio = clone_time / prepare
    print(f"our prepare, warm mirror (median of {runs}): {prepare:.3f} s -> "
          f"{ratio:.1f}x faster than a clone")
    print(f"disk per sandbox: {mb(disk)} (a clone: {mb(clone_disk)}; "
          f"the mirror, shared by all: {mb(disk_usage(workspace.mirror(str(source))))})")
    local_ratio = _local(workspace, str(source), shas[runs:2 * runs], clone_time)
    worst = min(ratio, local_ratio) if local_ratio else ratio
    print(f"goal: prepare >= {GOAL_RATIO:.0f}x faster than a full clone: "
          f"{'met' if worst >= GOAL_RATIO else 'MISSED'} ({worst:.1f}x)")

    print(f"\ncheckout strategies (median of {runs}, warm mirror):")
    mirror = workspace.mirror(str(source))
    for name, result in strategies(mirror, shas[:runs], tmp / "strategies").items():
        if isinstance(result, str):
            print(f"  {name:32} {result}")
        else:
            print(f"  {name:32} {result[0]:.3f} s  {mb(result[1])} per sandbox")
    return 0


def _local(workspace: Workspace, source: str, shas: list[str], clone_time: float) -> float | None:
    """LocalBackend.prepare and one exec, if bubblewrap works here; the ratio to a clone."""
    from sandbox.local import LocalBackend

    backend = LocalBackend(workspace)
    try:
        backend.check()
    except SandboxError as exc:
        print(f"local sandbox: not measured ({exc})")
        return None
    times, execs = [], []
    for sha in shas:
        started = time.perf_counter()
        sandbox = backend.prepare(RepoSpec(source, sha))
        times.append(time.perf_counter() - started)
        execs.append(sandbox.exec(["true"]).duration_seconds)
        sandbox.close()
    prepare = statistics.median(times)
    print(f"local sandbox prepare (checkout + sandbox files + hand-over, median of {len(shas)}): "
          f"{prepare:.3f} s -> {clone_time / prepare:.1f}x; exec round trip "
          f"{statistics.median(execs) * 1000:.0f} ms")
    return clone_time / prepare


if __name__ == "__main__":
    sys.exit(main())
