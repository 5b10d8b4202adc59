"""The local sandbox's isolation, each property proven from inside: no network, no host secrets,
whole-tree kills on timeout, a read-only system, bounded processes, memory and CPU, truncated
output, and host-side file access that cannot be led outside the checkout."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.base import Limits, SandboxError, SandboxUnavailable
from sandbox.local import LocalBackend, LocalSandbox
from sandbox.workspace import Workspace
from tests.sandbox.local_fixtures import Area, open_area

pytestmark = pytest.mark.slow

SECRET = "TRIAGE-PLANTED-SECRET-7f3a9c"


@pytest.fixture(scope="module")
def area() -> Iterator[Area]:
    with open_area() as made:
        yield made


@pytest.fixture
def box(area: Area) -> Iterator[LocalSandbox]:
    sandbox = area.sandbox()
    yield sandbox
    sandbox.close()


def alive_with(token: str) -> list[str]:
    """Host processes whose command line contains `token`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if token in cmdline:
                found.append(cmdline)
    return found


def test_command_runs_in_the_checkout_as_an_unprivileged_user(area: Area, box):
    result = box.exec(["sh", "-c", "id -u; pwd; git rev-parse HEAD; cat app.py"])
    assert result.ok, result.stderr.text
    uid, cwd, head, *app = result.stdout.text.splitlines()
    assert (uid, cwd, head) == ("1000", "/workspace", area.shas[-1])
    assert "# bug" in "\n".join(app)
    assert box.commit == area.shas[-1]
    status = box.exec(["grep", "Cap", "/proc/self/status"]).stdout.text
    assert "CapEff:\t0000000000000000" in status


def test_no_network_not_even_the_hosts_loopback(box):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        probe = f"exec 3<>/dev/tcp/127.0.0.1/{port} && echo CONNECTED"
        # Control: from the host, the same probe connects (so the test can see a connection).
        host = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=10)
        assert "CONNECTED" in host.stdout
        listener.accept()[0].close()
        inside = box.exec(["bash", "-c", probe], timeout=20)
        assert not inside.ok
        assert "CONNECTED" not in inside.stdout.text
        assert "refused" in inside.stderr.text.lower()
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing reached the host's listener
    unreachable = box.exec(["bash", "-c", "exec 3<>/dev/tcp/192.0.2.1/80"], timeout=20)
    assert not unreachable.ok
    assert "unreachable" in unreachable.stderr.text.lower()
    interfaces = box.exec(["cat", "/proc/net/dev"]).stdout.text
    assert [line.split(":")[0].strip() for line in interfaces.splitlines()[2:]] == ["lo"]


def test_host_secrets_are_invisible(area: Area, monkeypatch):
    monkeypatch.setenv("TRIAGE_PLANTED_TOKEN", SECRET)
    planted = area.root / "host-secret.txt"
    planted.write_text(SECRET)
    planted.chmod(0o644)  # readable by anyone on the host: only the mount table keeps it out
    with area.sandbox(env={"APP_MODE": "test"}) as sandbox:
        result = sandbox.exec(["sh", "-c", f"env; cat /proc/1/environ /proc/self/environ; "
                               f"cat {planted}; ls -a /root /home {area.root}; cat /etc/passwd"])
    everything = result.stdout.text + result.stderr.text
    assert SECRET not in everything
    assert "APP_MODE=test" in result.stdout.text  # the explicit allowlist does pass
    assert "TRIAGE_PLANTED_TOKEN" not in everything
    assert "No such file or directory" in result.stderr.text
    env_names = {line.split("=")[0] for line in result.stdout.text.splitlines() if "=" in line}
    assert {"PATH", "HOME", "LANG", "TMPDIR", "APP_MODE"} <= env_names


def test_timeout_kills_grandchildren_even_the_ones_that_left_the_session(area: Area, box):
    token = "triage-grandchild-4711"
    script = (f"(sleep 0.7; touch /workspace/marker; sleep 60 # {token}\n) & "
              f"setsid sh -c 'sleep 0.7; touch /workspace/marker2; sleep 60 # {token}' & "
              "sleep 60")
    started = time.monotonic()
    result = box.exec(["sh", "-c", script], timeout=0.3)
    assert result.timed_out
    assert result.exit_code is None
    assert time.monotonic() - started < 5
    time.sleep(1.2)  # past the moment the grandchildren would have written their markers
    assert not (box.workdir / "marker").exists()
    assert not (box.workdir / "marker2").exists()
    assert alive_with(token) == []


def test_writes_outside_the_workspace_fail(area: Area, box):
    objects = box.layout.readonly[0]
    targets = ["/usr/pwned", "/etc/pwned", "/pwned", "/bin/pwned", f"{objects}/pwned",
               "/proc/sys/kernel/hostname"]
    for target in targets:
        result = box.exec(["sh", "-c", f"echo x > {target}"])
        assert not result.ok, target
    assert not (objects / "pwned").exists()
    token = f"triage-private-tmp-{os.getpid()}"
    assert box.exec(["sh", "-c", f"echo ok > /workspace/new && echo ok > /tmp/{token}"]).ok
    assert (box.workdir / "new").read_text() == "ok\n"
    assert not (Path("/tmp") / token).exists()  # the sandbox's /tmp is its own


def test_fork_bomb_is_contained_and_the_host_is_fine(area: Area):
    token = "triage-fork-bomb-0451"
    limits = Limits(max_processes=48, timeout_seconds=2)
    with area.sandbox(limits) as sandbox:
        started = time.monotonic()
        result = sandbox.exec(["bash", "-c", f"bomb() {{ bomb | bomb & }}; bomb # {token}"
                               "\nsleep 30"])
        elapsed = time.monotonic() - started
    assert result.timed_out or result.exit_code is not None
    assert elapsed < 10
    assert "Resource temporarily unavailable" in result.stderr.text
    assert alive_with(token) == []
    assert subprocess.run(["true"], check=False).returncode == 0  # the host can still fork


def test_memory_and_cpu_limits(area: Area):
    if not Path("/usr/bin/python3").exists():
        pytest.skip("no /usr/bin/python3 to allocate with")
    with area.sandbox(Limits(memory_bytes=256 * 1024**2, cpu_seconds=1)) as sandbox:
        memory = sandbox.exec(["python3", "-c", "bytearray(512 * 1024 * 1024)"])
        assert memory.exit_code == 1
        assert "MemoryError" in memory.stderr.text
        assert sandbox.exec(["python3", "-c", "bytearray(64 * 1024 * 1024)"]).ok
        spin = sandbox.exec(["sh", "-c", "while :; do :; done"], timeout=30)
        assert not spin.timed_out  # the CPU limit, not the clock, ended it
        assert spin.exit_code in (128 + 9, 128 + 24)  # SIGKILL or SIGXCPU


def test_output_is_truncated_in_the_middle_with_original_sizes(area: Area):
    with area.sandbox(Limits(output_bytes=1000)) as sandbox:
        result = sandbox.exec(["sh", "-c", "echo START; head -c 200000 /dev/zero | tr '\\0' x; "
                               "echo; echo END; echo err >&2"])
    assert result.ok
    assert result.stdout.truncated
    assert result.stdout.original_bytes == len("START\n") + 200000 + len("\nEND\n")
    assert result.stdout.text.startswith("START\n")
    assert result.stdout.text.endswith("END\n")
    assert "bytes cut from the middle" in result.stdout.text
    assert (result.stderr.text, result.stderr.truncated) == ("err\n", False)


def test_files_and_diff(area: Area, box):
    box.write_file("app.py", "def total(items):\n    return sum(items)\n")
    box.write_file("tests/test_new.py", "def test_ok():\n    pass\n")
    assert box.read_file("/workspace/tests/test_new.py").startswith("def test_ok")
    assert box.exec(["sh", "-c", "echo x >> tests/test_new.py"]).ok  # still the sandbox's file
    diff = box.diff()
    assert "-    return sum(items) + 1  # bug" in diff
    assert "+++ b/tests/test_new.py" in diff
    assert box.exec(["git", "status", "--porcelain"]).stdout.text.count("??") == 1  # index untouched


def test_host_side_file_access_cannot_be_led_outside(area: Area, box):
    planted = area.root / "host-secret.txt"
    planted.write_text(SECRET)
    assert box.exec(["sh", "-c", f"ln -s {planted} link; ln -s {area.root} dirlink; "
                    "ln -s / rootlink"]).ok
    for path in ("link", "dirlink/host-secret.txt", "rootlink/etc/passwd", "../x", "/etc/passwd",
                 ".git"):
        with pytest.raises(SandboxError):
            box.read_file(path)
    for path in ("link", "dirlink/evil", "rootlink/tmp/evil", "../evil"):
        with pytest.raises(SandboxError):
            box.write_file(path, "evil")
    assert planted.read_text() == SECRET
    assert not (area.root / "evil").exists()


def test_host_never_runs_git_config_planted_in_the_checkout(area: Area, box):
    pwned = area.root / "pwned-by-fsmonitor"
    assert box.exec(["git", "config", "core.fsmonitor", f"touch {pwned}; false"]).ok
    box.write_file("new.txt", "x\n")
    box.diff()
    assert not pwned.exists()


def test_close_removes_everything_and_refuses_further_use(area: Area):
    sandbox = area.sandbox()
    assert sandbox.exec(["sh", "-c", "mkdir -p locked/deep && touch locked/deep/f && "
                         "chmod 000 locked/deep locked"]).ok
    sandbox.close()
    sandbox.close()
    assert not sandbox.root.exists()
    with pytest.raises(SandboxError, match="closed"):
        sandbox.exec(["true"])


def test_unavailable_backend_says_why(area: Area):
    missing = LocalBackend(Workspace(area.root / "cache"), bwrap="/nonexistent/bwrap")
    with pytest.raises(SandboxUnavailable, match="cannot run /nonexistent/bwrap"):
        missing.check()
    broken = LocalBackend(Workspace(area.root / "cache"), bwrap=shutil.which("false"))
    with pytest.raises(SandboxUnavailable, match="cannot create a sandbox"):
        broken.check()


def test_bad_env_names_and_unknown_commits_are_refused_without_leftovers(area: Area):
    before = set((area.root / "cache" / "sandboxes").iterdir())
    with pytest.raises(ValueError, match="environment variable"):
        area.sandbox(env={"BAD NAME": "x"})
    with pytest.raises(SandboxError, match="not found"):
        area.sandbox(commit="0" * 40)
    assert set((area.root / "cache" / "sandboxes").iterdir()) == before
