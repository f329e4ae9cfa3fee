"""SIGTERM (`kill`, systemd, `ray job stop`) ends a command as Ctrl-C does: through its own interrupt path,
or with one line and exit 130 where it has none; never a traceback or a death mid-write."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from overnight import run_command
from tests.actors.fixtures_run import write_fake_run

REPO_ROOT = Path(__file__).resolve().parents[2]


def sleeps_after_sigterm(args: argparse.Namespace) -> int:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)  # the signal interrupts this long before it ends
    return 0


def test_sigterm_interrupts_a_command_without_its_own_handler(capsys: pytest.CaptureFixture[str]) -> None:
    before = signal.getsignal(signal.SIGTERM)
    started = time.monotonic()
    assert run_command(sleeps_after_sigterm, argparse.Namespace()) == 130
    assert time.monotonic() - started < 10
    assert capsys.readouterr().err == "\novernight: interrupted\n"
    assert signal.getsignal(signal.SIGTERM) is before  # the caller's handler is back


def test_a_command_that_returns_keeps_its_code_and_the_callers_handler() -> None:
    before = signal.getsignal(signal.SIGTERM)
    assert run_command(lambda args: 3, argparse.Namespace()) == 3
    assert run_command(lambda args: None, argparse.Namespace()) == 0
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigterm_ends_log_follow_through_its_own_path(tmp_path: Path) -> None:
    fake = write_fake_run(tmp_path)
    command = [sys.executable, str(REPO_ROOT / "overnight.py"), "log", "--follow", "--output-dir",
               str(fake.run_dir.parent), "--run", fake.run]  # fmt: skip
    follower = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
    try:
        first = follower.stdout.readline() if follower.stdout else ""
        assert first.strip(), "log --follow printed nothing"
        follower.send_signal(signal.SIGTERM)
        code = follower.wait(timeout=30)
    finally:
        follower.kill()
    assert code == 0, follower.stderr.read() if follower.stderr else ""
    assert "Traceback" not in (follower.stderr.read() if follower.stderr else "")
