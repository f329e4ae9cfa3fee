"""Per-row token deltas from a batched greedy generate call: each row's new text, as it is decoded."""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import structlog
import torch
from transformers.generation.streamers import BaseStreamer

log = structlog.get_logger(__name__)

# A decoded prefix ending in U+FFFD is a multi-byte character cut between tokens: held back until the
# next token completes it, so no delta ever carries half a character.
_INCOMPLETE = "\ufffd"

DeltaSink = Callable[[str], None]


class RowDeltas:
    """One row's answer as it grows. Tokens are counted exactly as `serving.batching.cut_answer` counts them
    (the row's own budget, up to its first EOS), so the concatenated deltas are the final answer's text."""

    def __init__(
        self, decode: Callable[[list[int]], str], eos_id: int | None, budget: int, emit: DeltaSink
    ) -> None:
        self._decode = decode
        self._eos_id = eos_id
        self._budget = budget
        self._emit = emit
        self._ids: list[int] = []
        self.sent = ""
        self.done = budget <= 0

    def push(self, token: int) -> None:
        """One new token of this row (tokens after its EOS or past its budget are other rows' steps)."""
        if self.done:
            return
        if self._eos_id is not None and token == self._eos_id:
            self.done = True
            return
        self._ids.append(token)
        self.done = len(self._ids) >= self._budget
        text = self._decode(self._ids)
        if text.endswith(_INCOMPLETE) or not text.startswith(self.sent):
            return  # wait for the tokens that settle it; `remainder` sends whatever is left
        delta = text[len(self.sent) :]
        if delta:
            self.sent = text
            self._emit(delta)


def remainder(sent: str, final_text: str) -> str:
    """What is left to send of `final_text` after `sent` was streamed (a decode that changed an earlier
    character would break the prefix: logged, and nothing more is sent rather than a wrong suffix)."""
    if final_text.startswith(sent):
        return final_text[len(sent) :]
    log.warning("streamed text is not a prefix of the answer", sent=len(sent), final=len(final_text))
    return ""


class BatchStreamer(BaseStreamer):
    """A transformers streamer for a batched generate call: generate hands it the prompt ids first, then
    each step's next token of every row; row `i` goes to `rows[i]` (None: a row nobody streams)."""

    def __init__(self, rows: Sequence[RowDeltas | None]) -> None:
        self.rows = list(rows)
        self._prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True  # the first call carries the (left-padded) prompts
            return
        for row, token in zip(self.rows, value.reshape(-1).tolist(), strict=True):
            if row is not None:
                row.push(int(token))

    def end(self) -> None:
        self._prompt_seen = False

    def subset(self, indices: Sequence[int]) -> BatchStreamer:
        """The streamer of a generate call that runs only rows `indices` (one call per adapter)."""
        return BatchStreamer([self.rows[index] for index in indices])


def batch_streamer(
    sinks: Sequence[DeltaSink | None],
    budgets: Sequence[int],
    decode: Callable[[list[int]], str],
    eos_id: int | None,
) -> BatchStreamer | None:
    """A streamer for the rows that have a sink, or None when no row of the call is streamed."""
    if all(sink is None for sink in sinks):
        return None
    rows: list[RowDeltas | None] = [
        None if sink is None else RowDeltas(decode, eos_id, budget, safe_sink(sink))
        for sink, budget in zip(sinks, budgets, strict=True)
    ]
    return BatchStreamer(rows)


def safe_sink(sink: DeltaSink) -> DeltaSink:
    """A sink whose failure (a consumer gone) never stops the batch the other rows are in."""

    def emit(delta: str) -> None:
        try:
            sink(delta)
        except Exception as err:  # a streaming consumer's problem is never the batch's
            log.warning("a stream consumer failed", error=repr(err)[:200])

    return emit


def stream_answer(router: Any, prompt: str, max_new_tokens: int | None, expert: str | None) -> Iterator[dict]:
    """A request's events as the router's batch decodes it: {"expert"} as soon as it is queued, then
    {"delta": text} as tokens are decoded (deltas that arrive together are joined), then {"answer"}: the
    full answer dict. A bad request raises before the first event (its HTTP status is still free)."""
    deltas: queue.Queue[str | None] = queue.Queue()
    future = router.submit(prompt, max_new_tokens, expert, on_delta=deltas.put)
    future.add_done_callback(lambda _: deltas.put(None))
    yield {"expert": router.route(prompt, expert)["expert"]}
    finished = False
    while not finished:
        pieces = [deltas.get()]
        while not deltas.empty():
            pieces.append(deltas.get_nowait())
        finished = pieces[-1] is None
        text = "".join(piece for piece in pieces if piece is not None)
        if text:
            yield {"delta": text}
    yield {"answer": future.result()}
