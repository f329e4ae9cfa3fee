"""The router on real recipe adapters: routing to the right adapter, checked answers, limits, hot reload."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, LogitsProcessorList

from hlx.checker import check
from hlx.corpus_io import prompt_text
from serving.router import PromptTooLong, RequestError, Router, RouterError, RouterSettings
from training.constrained import GrammarLogitsProcessor, grammar_book
from training.model import load_tokenizer

if TYPE_CHECKING:
    from tests.serving.router_fixture import TrainedRun

pytest_plugins = ("tests.serving.router_fixture",)

MAX_NEW = 12
LOUD = {"ascii": "loud1", "runic": "loud1"}
REQUESTS = {
    "ascii": "Convert to HLXL: {C:14,0=42}",
    "runic": "Convert to LC-R: {14: {@0: 42}}",
    "coordinator": "Explain contract: {14: {@0: 42}}",
}
# The answer format's grammar of each request kind (by the prompt's words before the colon), written out
# here rather than asked of the router's routing; None: free text, decoded freely.
GRAMMARS = {"Convert to HLXL": "hlxl", "Convert to LC-R": "lc-r", "Explain contract": None}
ANSWER_KEYS = {
    "expert",
    "track",
    "reason",
    "format",
    "task",
    "text",
    "valid",
    "canonical",
    "check_error",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "adapter",
    "checkpoint",
    "latency_ms",
}


def settings(**changes: Any) -> RouterSettings:
    return RouterSettings(**{"default_max_new_tokens": MAX_NEW, "max_new_tokens_limit": 64, **changes})


@pytest.fixture(scope="module")
def router(trained_run: TrainedRun) -> Iterator[Router]:
    served = Router(trained_run.run_dir, settings())
    yield served
    served.close()


@pytest.fixture
def loud_router(private_run: TrainedRun) -> Iterator[Router]:
    private_run.promote(LOUD)
    served = Router(private_run.run_dir, settings(batch_wait_ms=20))
    yield served
    served.close()


def standalone_answer(
    run: TrainedRun, prompt: str, adapter: Path | None, max_new: int = MAX_NEW, grammar: bool = True
) -> str:
    """Greedy answer of a separately loaded model: the base alone, or the base with one adapter. With
    `grammar` (the router's default), a prompt whose answer format has a grammar (GRAMMARS) is decoded under
    it, one row alone, as the router should decode it within any batch."""
    tokenizer = load_tokenizer(run.base_dir)
    model: Any = AutoModelForCausalLM.from_pretrained(str(run.base_dir))
    if adapter is not None:
        model = PeftModel.from_pretrained(model, str(adapter))
    batch = tokenizer(prompt_text(prompt), return_tensors="pt", add_special_tokens=False)
    fmt = GRAMMARS[prompt.split(":")[0]] if grammar else None
    processors = LogitsProcessorList()
    if fmt is not None:
        book = grammar_book(tokenizer, model.config.vocab_size)
        processors.append(GrammarLogitsProcessor(book, [fmt], [max_new]))
    with torch.inference_mode():
        output = model.eval().generate(
            **batch,
            max_new_tokens=max_new,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            logits_processor=processors,
        )
    new = output[0, batch["input_ids"].shape[1] :].tolist()
    if tokenizer.eos_token_id in new:
        new = new[: new.index(tokenizer.eos_token_id)]
    return tokenizer.decode(new, skip_special_tokens=True)


def test_each_track_is_served_by_its_promoted_adapter(router: Router, trained_run: TrainedRun) -> None:
    for expert, prompt in REQUESTS.items():
        answer = router.generate(prompt)
        assert set(answer) == ANSWER_KEYS
        assert answer["expert"] == expert
        verdict = check(answer["text"], answer["text"], answer["format"])
        assert answer["valid"] is verdict.valid
        assert answer["canonical"] == (verdict.canonical if verdict.valid else None)
        assert (answer["check_error"] is None) is verdict.valid
        assert answer["finish_reason"] in ("stop", "length")
        assert 0 <= answer["completion_tokens"] <= MAX_NEW and answer["prompt_tokens"] > 0
        assert answer["latency_ms"] > 0
        if expert == "coordinator":
            assert (answer["adapter"], answer["checkpoint"]) == (None, None)
        else:
            assert answer["adapter"].startswith(f"{expert}__v")
            assert answer["checkpoint"] == str(trained_run.adapters[expert]["trained"].parent)
    assert router.generate(REQUESTS["runic"])["format"] == "lc-r"
    assert "names LC-R" in router.generate(REQUESTS["runic"])["reason"]


def test_specialists_cost_an_adapter_not_a_model(router: Router, trained_run: TrainedRun) -> None:
    listing = router.models()
    assert [e["name"] for e in listing["experts"]] == ["coordinator", "ascii", "runic"]
    assert listing["routes"] == {"ascii": "ascii", "runic": "runic", "general": "coordinator"}
    base = AutoModelForCausalLM.from_pretrained(str(trained_run.base_dir))
    assert listing["parameters"]["base"] == sum(p.numel() for p in base.parameters())
    adapters = listing["parameters"]["adapters"]
    assert sorted(adapters) == sorted(e["adapter"] for e in listing["experts"] if e["adapter"])
    assert all(0 < count < listing["parameters"]["base"] / 2 for count in adapters.values())
    by_name = {e["name"]: e for e in listing["experts"]}
    assert by_name["ascii"]["path"] == str(trained_run.adapters["ascii"]["trained"])
    assert by_name["coordinator"]["kind"] == "base" and by_name["ascii"]["kind"] == "lora"


@pytest.mark.parametrize("grammar", [True, False])
@pytest.mark.parametrize("strategy", ["mixed", "group"])
def test_a_mixed_batch_answers_like_one_model_per_expert(
    private_run: TrainedRun, strategy: str, grammar: bool
) -> None:
    """Each row of a batch answers as its expert alone would, under its format's grammar with the switch on
    (with `group` too: each per-adapter call gets its own rows' grammars), freely with it off."""
    private_run.promote(LOUD)
    served = Router(
        private_run.run_dir, settings(strategy=strategy, batch_wait_ms=50, constrained_decoding=grammar)
    )
    try:
        prompts = [REQUESTS[e] for e in ("ascii", "runic", "coordinator")] * 2
        answers = served.generate_many(prompts)
    finally:
        served.close()
    assert served.stats()["max_batch_size"] > 1
    for prompt, answer in zip(prompts, answers, strict=True):
        expert = answer["expert"]
        adapter = None if expert == "coordinator" else private_run.adapters[expert]["loud1"]
        expected = standalone_answer(private_run, prompt, adapter, grammar=grammar)
        assert answer["text"] == expected, (strategy, grammar, expert)
        if grammar and expert != "coordinator":
            assert answer["valid"] is True, answer
            # The loud adapters answer otherwise when free: the grammar really changed the answer.
            assert expected != standalone_answer(private_run, prompt, adapter, grammar=False)
    assert answers[0]["text"] != answers[1]["text"]  # the two loud adapters really differ


def test_requests_outside_the_limits_are_refused(router: Router) -> None:
    with pytest.raises(RequestError, match=r"max_new_tokens=0 must be an integer in 1\.\.64") as info:
        router.submit(REQUESTS["ascii"], 0)
    assert info.value.field == "max_new_tokens" and info.value.status == 422
    for bad in (65, True, "5", 2.0):
        with pytest.raises(RequestError, match="must be an integer in"):
            router.submit(REQUESTS["ascii"], bad)  # type: ignore[arg-type]
    with pytest.raises(RequestError, match="prompt must be a non-empty string"):
        router.submit("   ")
    with pytest.raises(
        PromptTooLong, match=r"prompt is 8001 characters; this router accepts at most 8000"
    ) as too_long:
        router.submit("x" * 8001)
    assert too_long.value.status == 413
    with pytest.raises(
        RequestError, match="no expert 'nobody'; choose one of auto, ascii, coordinator, runic"
    ) as unknown:
        router.submit(REQUESTS["ascii"], expert="nobody")
    assert unknown.value.field == "expert"  # the field the request named it in, not OpenAI's `model`
    with pytest.raises(RequestError, match=r"prompt holds a lone surrogate U\+D800 at character 17") as bad:
        router.submit("Convert to LC-R: \ud800")
    assert bad.value.field == "prompt"


def test_a_prompt_beyond_the_context_fails_alone(router: Router) -> None:
    overlong = router.submit("Convert to HLXL: " + "[1, 2] " * 300)
    fine = router.submit(REQUESTS["runic"])
    with pytest.raises(PromptTooLong, match=r"tokens with the template; the model's context is 256 tokens"):
        overlong.result()
    assert fine.result()["expert"] == "runic"


def test_experts_can_be_asked_for_by_name_or_track(router: Router) -> None:
    forced = router.generate(REQUESTS["runic"], expert="coordinator")
    assert forced["expert"] == "coordinator" and "asked for by name" in forced["reason"]
    assert router.generate(REQUESTS["coordinator"], expert="runic")["adapter"].startswith("runic__v")
    assert router.route(REQUESTS["ascii"]) == {
        "expert": "ascii",
        "track": "ascii",
        "format": "hlxl",
        "task": "convert",
        "reason": "names HLXL (ASCII track)",
    }


def test_reload_swaps_a_changed_adapter_and_frees_the_old(
    loud_router: Router, private_run: TrainedRun
) -> None:
    before = loud_router.generate(REQUESTS["ascii"])
    private_run.promote({"ascii": "loud2", "runic": "loud1"})
    report = loud_router.reload()
    assert (report["swapped"], report["unchanged"], report["failed"]) == (["ascii"], ["runic"], {})
    after = loud_router.generate(REQUESTS["ascii"])
    assert after["adapter"] != before["adapter"]
    assert after["checkpoint"] == str(private_run.adapters["ascii"]["loud2"].parent)
    assert after["text"] == standalone_answer(
        private_run, REQUESTS["ascii"], private_run.adapters["ascii"]["loud2"]
    )
    loaded = loud_router.models()["parameters"]["adapters"]
    assert before["adapter"] not in loaded and after["adapter"] in loaded and len(loaded) == 2
    assert loud_router.reload() == {
        "swapped": [],
        "unchanged": ["ascii", "runic"],
        "added": [],
        "removed": [],
        "failed": {},
    }


def test_requests_in_flight_finish_on_the_adapter_they_started_with(
    loud_router: Router,
    private_run: TrainedRun,
) -> None:
    expected = {
        str(private_run.adapters["ascii"][label].parent): standalone_answer(
            private_run, REQUESTS["ascii"], private_run.adapters["ascii"][label]
        )
        for label in ("loud1", "loud2")
    }
    early = [loud_router.submit(REQUESTS["ascii"]) for _ in range(6)]
    private_run.promote({"ascii": "loud2", "runic": "loud1"})
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def client() -> None:
        try:
            results.extend(loud_router.generate(REQUESTS["ascii"]) for _ in range(4))
        except BaseException as err:  # collected so the assertion below reports it
            errors.append(err)

    threads = [threading.Thread(target=client) for _ in range(3)]
    for thread in threads:
        thread.start()
    assert loud_router.reload()["swapped"] == ["ascii"]
    for thread in threads:
        thread.join()
    assert errors == []
    old_checkpoint = str(private_run.adapters["ascii"]["loud1"].parent)
    assert [f.result()["checkpoint"] for f in early] == [old_checkpoint] * 6
    for answer in [f.result() for f in early] + results:
        assert answer["text"] == expected[answer["checkpoint"]]
    assert loud_router.models()["retired"] == []


def test_a_failed_reload_keeps_the_old_adapter_serving(loud_router: Router, private_run: TrainedRun) -> None:
    promotion = private_run.promotion(LOUD)
    promotion["specialists"]["ascii"]["path"] = str(private_run.run_dir / "gone" / "adapter")
    private_run.promoted_path.write_text(json.dumps(promotion))
    report = loud_router.reload()
    assert "gone/adapter: the adapter directory of 'ascii' does not exist" in report["failed"]["ascii"]
    answer = loud_router.generate(REQUESTS["ascii"])
    assert answer["checkpoint"] == str(private_run.adapters["ascii"]["loud1"].parent)


def test_reload_of_one_specialist_and_of_an_unknown_one(loud_router: Router, private_run: TrainedRun) -> None:
    private_run.promote({"ascii": "loud2", "runic": "loud2"})
    assert loud_router.reload("runic")["swapped"] == ["runic"]
    assert loud_router.generate(REQUESTS["ascii"])["checkpoint"].endswith("loud/ascii/v1")
    with pytest.raises(
        RequestError, match=r"no specialist 'nobody' in promoted\.json; promoted: ascii, runic"
    ):
        loud_router.reload("nobody")


def test_a_removed_specialist_leaves_its_track_to_the_coordinator(
    loud_router: Router,
    private_run: TrainedRun,
) -> None:
    promotion = private_run.promotion(LOUD)
    del promotion["specialists"]["runic"]
    private_run.promoted_path.write_text(json.dumps(promotion))
    assert loud_router.reload()["removed"] == ["runic"]
    answer = loud_router.generate(REQUESTS["runic"])
    assert answer["expert"] == "coordinator"
    assert answer["reason"].endswith("no runic specialist was promoted, so the coordinator serves this track")
    assert loud_router.models()["routes"]["runic"] == "coordinator"


def test_start_up_errors_name_the_file_and_what_to_do(private_run: TrainedRun) -> None:
    promotion = private_run.promotion()
    promotion["specialists"]["runic"]["path"] = "/nowhere/adapter"
    private_run.promoted_path.write_text(json.dumps(promotion))
    with pytest.raises(
        RouterError,
        match=r"/nowhere/adapter: the adapter directory of 'runic' does not exist;.*"
        r"rerun `overnight run` with the same --run-name",
    ):
        Router(private_run.run_dir)
    promotion["specialists"]["runic"]["track"] = "klingon"
    private_run.promoted_path.write_text(json.dumps(promotion))
    with pytest.raises(RouterError, match=r"specialists\.runic\.track: 'klingon' is not one of ascii, runic"):
        Router(private_run.run_dir)
    private_run.promoted_path.unlink()
    with pytest.raises(RouterError, match=r"promoted\.json does not exist: nothing has been promoted"):
        Router(private_run.run_dir)


def test_a_closed_router_refuses_new_requests(private_run: TrainedRun) -> None:
    served = Router(private_run.run_dir, settings())
    pending = served.submit(REQUESTS["ascii"])
    served.close()
    assert pending.result()["expert"] == "ascii"
    with pytest.raises(RouterError, match="the router is closed"):
        served.submit(REQUESTS["ascii"])


def test_settings_are_checked() -> None:
    with pytest.raises(
        ValueError, match=r"default_max_new_tokens=600 must lie in 1\.\.max_new_tokens_limit=512"
    ):
        RouterSettings(default_max_new_tokens=600)
    with pytest.raises(ValueError, match="strategy='fastest' must be 'mixed' or 'group'"):
        RouterSettings(strategy="fastest")  # type: ignore[arg-type]


def test_a_request_its_caller_cancelled_is_skipped(private_run: TrainedRun) -> None:
    served = Router(private_run.run_dir, settings(batch_wait_ms=300))
    try:
        abandoned = served.submit(REQUESTS["ascii"])
        kept = served.submit(REQUESTS["runic"])
        assert abandoned.cancel()
        assert kept.result()["expert"] == "runic" and abandoned.cancelled()
        assert [expert["in_flight"] for expert in served.models()["experts"]] == [0, 0, 0]
        assert served.generate(REQUESTS["ascii"])["expert"] == "ascii"
    finally:
        served.close()


def test_a_full_weights_specialist_is_served_by_its_own_model(private_run: TrainedRun) -> None:
    promotion = private_run.promotion(LOUD)
    # The foundation directory is a full Hugging Face model: promote it as a full fine-tune of runic.
    promotion["specialists"]["runic"].update(path=str(private_run.base_dir), method="full")
    private_run.promoted_path.write_text(json.dumps(promotion))
    served = Router(private_run.run_dir, settings(batch_wait_ms=50))
    try:
        answers = served.generate_many([REQUESTS["runic"], REQUESTS["ascii"], REQUESTS["coordinator"]])
        by_name = {e["name"]: e for e in served.models()["experts"]}
    finally:
        served.close()
    assert [a["expert"] for a in answers] == ["runic", "ascii", "coordinator"]
    assert answers[0]["adapter"] is None and by_name["runic"]["kind"] == "full"
    assert answers[0]["text"] == standalone_answer(private_run, REQUESTS["runic"], None)
    assert answers[1]["text"] == standalone_answer(
        private_run, REQUESTS["ascii"], private_run.adapters["ascii"]["loud1"]
    )


def test_a_long_prompt_never_shrinks_another_rows_budget(private_run: TrainedRun) -> None:
    private_run.promote(LOUD)
    served = Router(private_run.run_dir, settings(batch_wait_ms=300))
    try:
        tokenizer = load_tokenizer(private_run.base_dir)
        context = served.context_tokens
        long_prompt = "Convert to HLXL: [1]"
        while (
            len(tokenizer(prompt_text(long_prompt + ", 1"), add_special_tokens=False)["input_ids"])
            < context - 1
        ):
            long_prompt += ", 1"
        long_tokens = len(tokenizer(prompt_text(long_prompt), add_special_tokens=False)["input_ids"])
        assert context - 16 < long_tokens < context  # accepted, but leaves under 16 tokens of room
        # Sent together: one batch. The short row keeps its own 40 tokens; the long one gets what fits.
        short = served.submit(REQUESTS["runic"], 40)
        long = served.submit(long_prompt, 40)
        short_answer, long_answer = short.result(), long.result()
        assert served.stats()["max_batch_size"] == 2
    finally:
        served.close()
    expected = standalone_answer(private_run, REQUESTS["runic"], private_run.adapters["runic"]["loud1"], 40)
    assert short_answer["text"] == expected
    assert short_answer["completion_tokens"] > context - long_tokens  # more than the long prompt leaves
    assert long_answer["completion_tokens"] <= context - long_tokens
    room_used = long_answer["completion_tokens"] == context - long_tokens
    assert long_answer["finish_reason"] == ("length" if room_used else "stop")


def test_free_text_answers_are_reported_unchecked(loud_router: Router) -> None:
    answer = loud_router.generate(REQUESTS["coordinator"], expert="runic")
    assert answer["format"] == "text" and answer["text"].strip()
    assert (answer["valid"], answer["canonical"]) == (None, None)
    assert answer["check_error"] == "not checked: free text has no grammar to check it against"


def test_router_batches_are_counted(router: Router) -> None:
    before = router.stats()
    router.generate_many([REQUESTS["ascii"]] * 3)
    after = router.stats()
    assert after["requests"] - before["requests"] == 3
    assert 1 <= after["batches"] - before["batches"] <= 3
