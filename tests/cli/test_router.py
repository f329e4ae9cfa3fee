"""`overnight ask` and `overnight serve` on a finished run: answers, errors that say what to do, and the
router actor behind Ray Serve."""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from cli.router import register
from tests.serving.router_fixture import AUTH, GOOD, KEY, LOUD, error_of

if TYPE_CHECKING:
    from tests.serving.router_fixture import TrainedRun

pytest_plugins = ("tests.serving.router_fixture",)


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="overnight")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_ask_prints_the_expert_reason_answer_and_validity(
    trained_run: TrainedRun, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["ask", "--local", "--output-dir", str(trained_run.output_dir), "--max-new-tokens", "4"]
    assert run_cli([*base, "Convert to LC-R: {14: {@0: 42}}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["expert", "reason", "format", "answer", "valid", "latency"]
    assert lines[0].startswith("expert   runic (adapter runic__v") and "checkpoint" in lines[0]
    assert lines[1] == "reason   names LC-R (runic track)"
    assert lines[4].startswith("valid    yes")  # decoded under the LC-R grammar (router.constrained_decoding)
    assert run_cli([*base, "--run", "served", "--json", "Explain contract: {14: {@0: 1}}"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["expert"], answer["format"], answer["adapter"]) == ("coordinator", "text", None)


def test_ask_errors_say_what_to_do(
    trained_run: TrainedRun, private_run: TrainedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["ask", "--local", "--output-dir", str(tmp_path / "none"), "x"]) == 2
    assert "no runs in" in capsys.readouterr().err
    base = ["ask", "--local", "--output-dir", str(private_run.output_dir)]
    assert run_cli([*base, "--max-new-tokens", "0", "Convert to LC-R: 1"]) == 2
    assert "max_new_tokens=0 must be an integer in 1..512" in capsys.readouterr().err
    promotion = private_run.promotion()
    promotion["specialists"]["ascii"]["path"] = "/moved/adapter"
    private_run.promoted_path.write_text(json.dumps(promotion))
    assert run_cli([*base, "Convert to LC-R: 1"]) == 2
    assert "/moved/adapter: the adapter directory of 'ascii' does not exist" in capsys.readouterr().err
    private_run.promoted_path.unlink()
    assert run_cli([*base, "--run", "served", "Convert to LC-R: 1"]) == 2
    assert "nothing has been promoted in run 'served' yet" in capsys.readouterr().err
    assert run_cli(["ask", "--local", "--output-dir", str(trained_run.output_dir), "--run", "nope", "x"]) == 2
    assert "no run 'nope'" in capsys.readouterr().err


def test_serve_refuses_to_start_without_a_key(
    trained_run: TrainedRun, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OVERNIGHT_API_KEY", raising=False)
    assert run_cli(["serve", "--output-dir", str(trained_run.output_dir)]) == 2
    error = capsys.readouterr().err
    assert "OVERNIGHT_API_KEY is not set, so the server would accept anyone" in error
    assert "or pass --insecure" in error


@pytest.mark.ray
@pytest.mark.slow
def test_ray_serve_refuses_without_the_key_and_answers_with_it(
    private_run: TrainedRun, capsys: pytest.CaptureFixture[str]
) -> None:
    import ray
    from ray import serve

    from actors.router_service import (
        ROUTER_NAME,
        deploy_http,
        notify_router,
        running_router,
        start_router_actor,
    )

    port_probe = socket.socket()
    port_probe.bind(("127.0.0.1", 0))
    port = port_probe.getsockname()[1]
    port_probe.close()
    ray.init(num_cpus=2, include_dashboard=False, namespace="overnight", log_to_driver=False)
    try:
        url = deploy_http(private_run.run_dir, "127.0.0.1", port, KEY, insecure=False)
        with httpx.Client(base_url=url, timeout=60) as client:
            assert client.get("/health").json() == {"status": "ok"}
            assert client.post("/v1/generate", json=GOOD).status_code == 401
            answer = client.post("/v1/generate", headers=AUTH, json=GOOD)
            assert answer.status_code == 200 and answer.json()["expert"] == "ascii"
            too_long = client.post("/v1/generate", headers=AUTH, json={**GOOD, "max_new_tokens": 10_000})
            assert too_long.status_code == 422
            reload = client.post("/models/reload", headers=AUTH, json={"specialist": "nobody"})
            assert reload.status_code == 404 and error_of(reload)["field"] == "specialist", reload.text
            # A promotion reaches the actor through notify_router (the supervisor's hook).
            private_run.promote({"ascii": "older"})
            assert notify_router(private_run.run_dir, "ascii")
            older = str(private_run.adapters["ascii"]["older"].parent)
            deadline = time.monotonic() + 30
            while client.post("/v1/generate", headers=AUTH, json=GOOD).json()["checkpoint"] != older:
                assert time.monotonic() < deadline, "the router did not reload after notify_router"
                time.sleep(0.2)
        # `overnight ask` finds the running actor and asks it.
        assert run_cli(["ask", "--output-dir", str(private_run.output_dir), "Convert to LC-T: 1"]) == 0
        assert f"checkpoint {older}" in capsys.readouterr().out.splitlines()[0]
        assert start_router_actor(private_run.run_dir) is not None  # reused, not restarted
        assert running_router(private_run.run_dir) is not None
        serve.shutdown()
        ray.kill(ray.get_actor(ROUTER_NAME, namespace="overnight"), no_restart=True)
    finally:
        ray.shutdown()


def test_ask_refuses_runs_outside_the_output_dir(
    trained_run: TrainedRun, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["ask", "--local", "--output-dir", str(trained_run.output_dir)]
    climb_to_etc = os.path.relpath("/etc", trained_run.output_dir)  # ../../../etc: a directory that exists
    for outside in (climb_to_etc, "/etc", "../not-there"):
        assert run_cli([*base, "--run", outside, "Convert to LC-R: 1"]) == 2
        error = capsys.readouterr().err
        assert (
            f"--run '{outside}' is outside --output-dir {trained_run.output_dir}: name a run in it" in error
        )


def test_ask_reads_the_prompt_from_stdin_or_a_file(
    trained_run: TrainedRun,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = ["ask", "--local", "--json", "--output-dir", str(trained_run.output_dir), "--max-new-tokens", "4"]
    monkeypatch.setattr("sys.stdin", io.StringIO("Convert to LC-R: {14: {@0: 42}}\n"))
    assert run_cli([*base, "-"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["expert"], answer["format"]) == ("runic", "lc-r")  # routed by the text read from stdin
    request = tmp_path / "request.txt"
    request.write_text("Convert to HLXL: [1, 2]\n", encoding="utf-8")
    assert run_cli([*base, "--prompt-file", str(request)]) == 0
    assert json.loads(capsys.readouterr().out)["format"] == "hlxl"
    assert run_cli([*base, "--prompt-file", str(request), "Convert to LC-R: 1"]) == 2
    assert (
        "give the request as an argument, `-` to read it from stdin, or --prompt-file"
        in capsys.readouterr().err
    )


def test_ask_refuses_an_empty_prompt_before_looking_for_ray(
    trained_run: TrainedRun, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    connects: list[Any] = []
    monkeypatch.setattr("actors.connect.connect_existing_ray", lambda *args: connects.append(args) or False)
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    for prompt in ("   ", "-"):
        assert run_cli(["ask", "--output-dir", str(trained_run.output_dir), prompt]) == 2
        assert "error: prompt must be a non-empty string" in capsys.readouterr().err
    assert connects == []


def test_ask_says_free_text_was_not_checked(
    private_run: TrainedRun, capsys: pytest.CaptureFixture[str]
) -> None:
    private_run.promote(LOUD)  # a loud adapter answers with text, so there is an answer to (not) check
    base = ["ask", "--local", "--output-dir", str(private_run.output_dir), "--max-new-tokens", "6"]
    assert run_cli([*base, "--expert", "runic", "Explain contract: {14: {@0: 1}}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "format   text"
    assert lines[4] == "valid    not checked: free text has no grammar to check it against"
    assert run_cli([*base, "--json", "--expert", "runic", "Explain contract: {14: {@0: 1}}"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["text"].strip() and answer["valid"] is None and answer["canonical"] is None
