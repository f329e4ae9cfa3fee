"""The anthropic SDK loads only where the LLM grader can be used: with no key, or with the grader off, the
grader grades with the rubric alone and never imports it; with a key it loads when the grader is built."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
KEY_ENV = "OVERNIGHT_IMPORTS_TEST_KEY"
# A fresh interpreter: build a grader, then grade one window, saying after each whether the SDK is loaded.
PROBE = """
import json, sys
from agents.llm_grader import LLMGrader, LLMGraderConfig
from tests.agents.window_factory import make_window
grader = LLMGrader(LLMGraderConfig(**json.loads(sys.argv[1])), env=json.loads(sys.argv[2]))
built = "anthropic" in sys.modules
grade = grader.grade(make_window())
print(json.dumps({"after_build": built, "after_grade": "anthropic" in sys.modules, "source": grade.source,
                  "fallback_reason": grade.fallback_reason}))
"""


def closed_port_url() -> str:
    """A local URL nothing listens on: the call fails at once with a network error."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def probe(config: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(config), json.dumps(env)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("config", "env", "fallback_reason"),
    [
        ({"api_key_env": KEY_ENV}, {},
         f"no API key: environment variable {KEY_ENV} is not set (set it to enable the LLM grader)"),
        ({"api_key_env": KEY_ENV}, {KEY_ENV: "   "},
         f"no API key: environment variable {KEY_ENV} is not set (set it to enable the LLM grader)"),
        ({"api_key_env": KEY_ENV, "enabled": False}, {KEY_ENV: "sk-imports-test"}, None),
    ],
    ids=["no-key", "blank-key", "grader-off"],
)  # fmt: skip
def test_a_grader_that_cannot_call_the_api_never_imports_the_sdk(
    config: dict[str, Any], env: dict[str, str], fallback_reason: str | None
) -> None:
    seen = probe(config, env)
    assert seen == {"after_build": False, "after_grade": False, "source": "rubric",
                    "fallback_reason": fallback_reason}  # fmt: skip


def test_with_a_key_the_sdk_loads_when_the_grader_is_built_and_is_used() -> None:
    config = {"api_key_env": KEY_ENV, "base_url": closed_port_url(), "max_retries": 0, "timeout_s": 5.0}
    seen = probe(config, {KEY_ENV: "sk-imports-test"})
    assert seen["after_build"] is True  # paid as the watchdog starts, not inside a grade's deadline
    assert seen["source"] == "rubric"
    # The SDK's own connection error: the request really went through the anthropic client.
    assert seen["fallback_reason"].startswith("network error after 1 attempt(s): ")
