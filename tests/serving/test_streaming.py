"""Per-row deltas of a batched decode: counted like cut_answer, whole characters only, rows kept apart."""

from __future__ import annotations

import torch

from serving.batching import cut_answer
from serving.streaming import BatchStreamer, RowDeltas, batch_streamer, remainder

EOS = 0
# A toy byte-level vocabulary: token t is byte t; "é" is two tokens (0xC3 0xA9).
TOKENS = {ord("a"): b"a", ord("b"): b"b", 0xC3: b"\xc3", 0xA9: b"\xa9"}


def decode(ids: list[int]) -> str:
    return b"".join(TOKENS[i] for i in ids).decode("utf-8", errors="replace")


def deltas_of(tokens: list[int], budget: int) -> list[str]:
    sent: list[str] = []
    row = RowDeltas(decode, EOS, budget, sent.append)
    for token in tokens:
        row.push(token)
    return sent


def test_deltas_are_the_answer_cut_at_eos_or_budget_like_cut_answer() -> None:
    for tokens, budget in [
        ([97, 98, EOS, 97], 10),  # EOS ends it; what follows is padding of other rows' steps
        ([97, 98, 97, 98], 3),  # the row's own budget ends it
        ([97, 98, 97], 3),  # exactly at the budget
        ([EOS, 97], 5),  # an empty answer
        ([97], 0),  # no budget at all
    ]:
        ids, _ = cut_answer(tokens, EOS, budget)
        assert "".join(deltas_of(tokens, budget)) == decode(ids), (tokens, budget)


def test_a_character_split_across_tokens_is_held_back_until_whole() -> None:
    assert deltas_of([97, 0xC3, 0xA9, 98], 10) == ["a", "é", "b"]
    # Cut by the budget in the middle of the character: nothing half-made is sent, and the remainder
    # against the final text (which has the replacement character) sends what is left.
    sent = deltas_of([97, 0xC3, 0xA9], 2)
    assert sent == ["a"]
    assert remainder("".join(sent), decode([97, 0xC3])) == "\ufffd"


def test_remainder_sends_nothing_when_the_streamed_text_is_not_a_prefix() -> None:
    assert remainder("ab", "abc") == "c"
    assert remainder("ax", "abc") == ""


def test_the_batch_streamer_skips_the_prompt_and_feeds_each_row_its_own_tokens() -> None:
    got: dict[str, list[str]] = {"first": [], "third": []}
    streamer = batch_streamer([got["first"].append, None, got["third"].append], [5, 5, 1], decode, EOS)
    assert isinstance(streamer, BatchStreamer)
    streamer.put(torch.tensor([[98, 98], [98, 98], [98, 98]]))  # the prompts: never streamed
    streamer.put(torch.tensor([97, 98, 98]))
    streamer.put(torch.tensor([98, 97, 97]))  # past the third row's budget of 1
    streamer.put(torch.tensor([EOS, 97, 98]))
    streamer.put(torch.tensor([97, 97, 98]))  # after the first row's EOS
    assert got == {"first": ["a", "b"], "third": ["b"]}
    assert batch_streamer([None, None], [5, 5], decode, EOS) is None


def test_a_subset_streamer_feeds_the_rows_of_one_adapters_call() -> None:
    got: list[str] = []
    streamer = batch_streamer([None, got.append], [5, 5], decode, EOS)
    assert streamer is not None
    sub = streamer.subset([1])
    sub.put(torch.tensor([[1]]))
    sub.put(torch.tensor([98]))
    assert got == ["b"]


def test_a_failing_consumer_does_not_stop_the_batch() -> None:
    got: list[str] = []

    def gone(_: str) -> None:
        raise RuntimeError("the client went away")

    streamer = batch_streamer([gone, got.append], [5, 5], decode, EOS)
    assert streamer is not None
    streamer.put(torch.tensor([[1], [1]]))
    streamer.put(torch.tensor([97, 98]))
    assert got == ["b"]
