"""A killed run leaves nothing behind, and a run past its memory ceiling stops with a sentence.

A benchmark or test run that the kernel's OOM killer (or a person, or CI's time limit) ends with
SIGKILL gets no chance to stop its children; they must die with it on their own
(``tests/fixtures/processes``). Each run here carries a mark of its own in its environment, so
every process it started can be found afterwards, wherever it was re-parented.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil

from tests.fixtures import processes
from tests.fixtures.livekit import SERVER_BINARY

ROOT = Path(__file__).resolve().parents[2]
APPEAR_TIMEOUT_S = 120.0
"""How long a started run may take to start the processes it is killed among (a loaded CI)."""
GONE_TIMEOUT_S = 15.0
"""How long its children may take to die once it is killed (the kernel sends the signal at
once; they need only be scheduled)."""


def _env(mark: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), processes.RUN_MARK_ENV: mark, **extra}


def _wait_for(
    mark: str, wanted: Callable[[list[psutil.Process]], bool], run: subprocess.Popen[bytes]
) -> list[psutil.Process]:  # noqa: E501
    deadline = time.monotonic() + APPEAR_TIMEOUT_S
    found: list[psutil.Process] = []
    while time.monotonic() < deadline:
        assert run.poll() is None, f"the run ended by itself (status {run.returncode}) first"
        found = processes.marked(mark, exclude=[run.pid])
        if wanted(found):
            return found
        time.sleep(0.2)
    raise AssertionError(
        f"the run never started what it should; it had: {processes.describe(found)}"
    )


def _names(procs: list[psutil.Process]) -> str:
    return " ".join(" ".join(p.cmdline()) for p in procs if p.is_running())


def _kill_and_check(run: subprocess.Popen[bytes], mark: str) -> None:
    os.kill(run.pid, signal.SIGKILL)  # the run itself only, as the OOM killer would
    run.wait(timeout=10)
    left = processes.wait_gone(mark, GONE_TIMEOUT_S)
    for proc in left:  # never leave them for the next test, whatever the verdict
        proc.kill()
    assert not left, f"left running after the run was killed: {processes.describe(left)}"


def test_a_benchmark_killed_halfway_leaves_no_server_or_guest_running() -> None:
    mark = uuid.uuid4().hex
    run = subprocess.Popen(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "tiles",
         "--json", os.devnull],
        cwd=ROOT, env=_env(mark), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        found = _wait_for(
            mark,
            lambda procs: (
                str(SERVER_BINARY) in _names(procs) and "benchmarks.guests" in _names(procs)
            ),
            run,
        )
        assert found
        _kill_and_check(run, mark)
    finally:
        if run.poll() is None:
            run.kill()


def test_a_test_run_killed_halfway_leaves_no_server_running() -> None:
    """pytest itself killed while its fixtures' servers run (nginx-rtmp and livekit-server)."""
    mark = uuid.uuid4().hex
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/outputs/test_direct_rtmp.py", "tests/session/test_room_session.py"],
        cwd=ROOT, env=_env(mark), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for(mark, lambda procs: "nginx" in _names(procs), run)
        _kill_and_check(run, mark)
    finally:
        if run.poll() is None:
            run.kill()


def test_a_test_run_past_its_memory_ceiling_fails_with_a_sentence(tmp_path: Path) -> None:
    """A child that holds 600 MiB under a 300 MiB ceiling: stopped, and the test named."""
    test_file = tmp_path / "test_greedy.py"
    test_file.write_text(
        textwrap.dedent("""
        import sys, time
        from tests.fixtures import processes

        def test_greedy_child():
            child = processes.popen([sys.executable, "-c",
                "import time; held = b'x' * (600 * 2**20); time.sleep(60)"])
            deadline = time.monotonic() + 60
            while child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
    """)
    )
    mark = uuid.uuid4().hex
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
         "tests.fixtures.process_guard", "--rootdir", str(tmp_path), "-c", os.devnull,
         str(test_file)],
        cwd=ROOT, env=_env(mark, **{processes.CEILING_ENV: "300"}), capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert "memory ceiling: this test run's processes held" in output, output
    assert "over the 300 MiB ceiling" in output and "test_greedy_child" in output, output
    assert not processes.wait_gone(mark, GONE_TIMEOUT_S, exclude=[os.getpid()])


def test_a_benchmark_past_its_memory_ceiling_stops_with_a_sentence() -> None:
    mark = uuid.uuid4().hex
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "program",
         "--memory-ceiling-mib", "40", "--json", os.devnull],
        cwd=ROOT, env=_env(mark), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 3, run.stdout[-2000:] + run.stderr[-2000:]
    assert "memory ceiling: the benchmark run's processes held" in run.stderr, run.stderr
    assert "over the 40 MiB ceiling" in run.stderr and "stopped there" in run.stderr
