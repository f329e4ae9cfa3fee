"""The MoE router: one base model, each promoted specialist a peft adapter on it, batched greedy answers."""

from __future__ import annotations

import itertools
import queue
import re
import threading
import time
import warnings
from concurrent.futures import Future
from dataclasses import asdict
from pathlib import Path
from typing import Any

import structlog
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from control.run_files import PROMOTED_FILE
from hlx.corpus_io import prompt_text
from report.metric_samples import answer_samples, batch_samples, reload_samples
from serving.batching import BatchStats, cut_answer, generate_per_adapter, left_pad, plan_calls, row_budget
from serving.grammar_hook import compile_grammars, grammar_call_kwargs
from serving.metric_sink import SampleSink, record_quietly
from serving.model_census import parameter_counts
from serving.route_rules import COORDINATOR, Route, route
from serving.routing import (
    ExpertSpec,
    ExpertTable,
    PromptTooLong,
    RequestError,
    RouterError,
    RouterSettings,
    UnknownExpert,
    check_request,
    tracks_served,
)
from serving.safe_logging import failure_fields
from serving.served_run import require_weights, served_table
from serving.streaming import DeltaSink, batch_streamer
from serving.versions import Pending, Serving
from training.model import compute_dtype, load_tokenizer, pick_device
from training.quiet import quiet_transformers

BASE_ADAPTER = "__base__"  # peft's name for "no adapter" in a mixed-adapter batch
log = structlog.get_logger(__name__)

__all__ = ["PromptTooLong", "RequestError", "Router", "RouterError", "RouterSettings", "UnknownExpert"]


_STOP = object()


class Router:
    """Answers HLX requests with the expert HLX_SPEC §7 names. Thread-safe: `submit` from any thread; one
    worker thread batches and generates, so the model is only ever touched by one thread at a time."""

    def __init__(
        self,
        run_dir: str | Path,
        settings: RouterSettings | dict[str, Any] | None = None,
        metrics: SampleSink | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self._metrics = metrics  # an actors.metrics.MetricsRecorder where Ray runs; None in `ask --local`
        self.settings = (
            settings if isinstance(settings, RouterSettings) else RouterSettings(**(settings or {}))
        )
        table = served_table(self.run_dir)
        self._lock = threading.Lock()  # routing state: _serving, _table, reference counts
        self._model_lock = threading.Lock()  # the model: generation, adapter load and delete
        self._reload_lock = threading.Lock()
        self._versions = itertools.count(1)
        if self.settings.torch_threads:
            torch.set_num_threads(self.settings.torch_threads)
        self.device = torch.device(self.settings.device) if self.settings.device else pick_device()
        self.dtype = compute_dtype(self.settings.dtype, self.device)
        self._base_path = table.coordinator.path
        self._tokenizer, self._model = self._load_base(self._base_path)
        self._pad_id = self._tokenizer.pad_token_id
        if self.settings.constrained_decoding:
            compile_grammars(self._model, self._tokenizer)  # now, so no request waits for a compile
        self.context_tokens = int(getattr(self._model.config, "max_position_embeddings", 2048))
        self._parked: list[str] = []
        self._serving: dict[str, Serving] = {COORDINATOR: Serving(table.coordinator, adapter=None)}
        for spec in table.specialists.values():
            self._serving[spec.name] = self._load_expert(spec)
        self._table = table
        self._retired: list[Serving] = []
        self._queue: queue.Queue[Any] = queue.Queue()
        self._stats = BatchStats()
        self._closed = False
        self._worker = threading.Thread(target=self._serve_forever, name="router-batcher", daemon=True)
        self._worker.start()
        log.info(
            "router ready",
            run_dir=str(self.run_dir),
            experts=sorted(self._serving),
            device=str(self.device),
            strategy=self.settings.strategy,
            constrained_decoding=self.settings.constrained_decoding,
        )

    # ----------------------------------------------------------------------------------------- loading

    def _load_base(self, path: Path) -> tuple[Any, Any]:
        try:
            tokenizer = load_tokenizer(path)
            with quiet_transformers():
                model = AutoModelForCausalLM.from_pretrained(str(path), dtype=self.dtype)
        except (OSError, ValueError) as err:
            raise RouterError(f"{path}: the coordinator's base model does not load: {err}") from err
        # Batched generation pads on the left, so every row's answer starts at the same column.
        tokenizer.padding_side = "left"
        return tokenizer, model.to(self.device).eval()

    def _load_expert(self, spec: ExpertSpec) -> Serving:
        """Load one specialist completely before anything routes to it (the caller publishes it)."""
        require_weights(spec)
        if not spec.is_adapter:
            with quiet_transformers():
                model = AutoModelForCausalLM.from_pretrained(str(spec.path), dtype=self.dtype)
            return Serving(spec, adapter=None, model=model.to(self.device).eval())
        adapter = f"{re.sub(r'[^A-Za-z0-9_]', '_', spec.name)}__v{next(self._versions)}"
        try:
            with self._model_lock, quiet_transformers(), warnings.catch_warnings():
                # peft calls a transformers property that warns about its own deprecation on every load.
                warnings.simplefilter("ignore", FutureWarning)
                if isinstance(self._model, PeftModel):
                    self._model.load_adapter(str(spec.path), adapter_name=adapter)
                else:
                    self._model = PeftModel.from_pretrained(self._model, str(spec.path), adapter_name=adapter)
                self._model.eval()
                self._delete_parked()
        except (OSError, ValueError, RuntimeError, KeyError) as err:
            raise RouterError(
                f"{spec.path}: the adapter of specialist {spec.name!r} does not load onto the base "
                f"{self._base_path}: {err}. Was it trained on another base? Re-promote it (`overnight run`)."
            ) from err
        return Serving(spec, adapter=adapter)

    def _drop(self, retired: list[Serving]) -> None:
        """Free versions that were replaced and have no request left on them."""
        for serving in retired:
            if serving.adapter is not None and isinstance(self._model, PeftModel):
                with self._model_lock:
                    self._parked.append(serving.adapter)
                    self._delete_parked()
            serving.model = None
            log.info("expert version dropped", expert=serving.spec.name, adapter=serving.adapter)

    def _delete_parked(self) -> None:
        """Delete unrouted adapters, except the model's last one: peft cannot run with zero adapters, so
        that one stays parked until another adapter is loaded. Call with the model lock held."""
        while self._parked and len(self._model.peft_config) > 1:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "adapter X was active, now deleted"
                self._model.delete_adapter(self._parked.pop())

    # ---------------------------------------------------------------------------------------- requests

    def route(self, prompt: str, expert: str | None = None) -> dict[str, Any]:
        """The routing decision alone (no generation): expert, track, format, task, reason."""
        decision = route(prompt)
        with self._lock:
            name, reason = self._choose(decision, expert)
        return {**decision.to_dict(), "expert": name, "reason": reason}

    def _choose(self, decision: Route, expert: str | None) -> tuple[str, str]:
        if expert in (None, "", "auto"):
            name, note = self._table.serving(decision.track)
            return name, decision.reason + (f"; {note}" if note else "")
        if expert in self._serving:
            return expert, f"expert {expert!r} was asked for by name (routing says: {decision.reason})"
        if expert in ("ascii", "runic", "general"):
            name, _ = self._table.serving(expert)
            return name, f"track {expert!r} was asked for by name; {name} serves it"
        known = ", ".join(["auto", *sorted(self._serving)])
        raise UnknownExpert(f"no expert {expert!r}; choose one of {known}", field="expert")

    def submit(
        self,
        prompt: str,
        max_new_tokens: int | None = None,
        expert: str | None = None,
        on_delta: DeltaSink | None = None,
    ) -> Future[dict[str, Any]]:
        """Queue a request; the future resolves to the answer dict (see `generate`). Bad requests raise
        RequestError here, before queueing."""
        budget = check_request(self.settings, prompt, max_new_tokens)
        decision = route(prompt)
        with self._lock:
            if self._closed:
                raise RouterError("the router is closed; start a new one")
            name, reason = self._choose(decision, expert)
            serving = self._serving[name]
            serving.in_flight += 1
            pending = Pending(prompt, decision, reason, serving, budget, time.perf_counter(), on_delta)
            # Queued under the lock, so nothing can land behind close()'s stop marker and wait forever.
            self._queue.put(pending)
        return pending.future

    def generate(
        self, prompt: str, max_new_tokens: int | None = None, expert: str | None = None
    ) -> dict[str, Any]:
        """Answer one request: expert, track, reason, format, text, valid, canonical, check_error,
        finish_reason, prompt_tokens, completion_tokens, adapter, checkpoint, latency_ms."""
        return self.submit(prompt, max_new_tokens, expert).result()

    def generate_many(self, prompts: list[str], max_new_tokens: int | None = None) -> list[dict[str, Any]]:
        futures = [self.submit(prompt, max_new_tokens) for prompt in prompts]
        return [future.result() for future in futures]

    # -------------------------------------------------------------------------------------- the worker

    def _serve_forever(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            deadline = time.monotonic() + self.settings.batch_wait_ms / 1000
            while len(batch) < self.settings.batch_max_size:
                try:
                    item = self._queue.get(timeout=max(deadline - time.monotonic(), 0))
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._stats.record(len(batch))
            record_quietly(self._metrics, batch_samples(len(batch)))
            try:
                self._run_batch(batch)
            except Exception as err:  # the worker must outlive any bug, or every later request would hang
                log.error("batch failed", **failure_fields(err))
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(RouterError("the batch failed; see the router's log"))

    def _run_batch(self, batch: list[Pending]) -> None:
        outcomes: list[tuple[Pending, dict[str, Any] | BaseException]] = []
        groups: dict[int, list[Pending]] = {}
        # A request whose caller gave up (an HTTP client that went away) is not generated; the others
        # can no longer be cancelled from here on.
        for pending in [p for p in batch if p.future.set_running_or_notify_cancel()]:
            # Adapters share the base model: one group. A full-weights specialist has a model of its own.
            owner = pending.serving.model if pending.serving.model is not None else self._model
            groups.setdefault(id(owner), []).append(pending)
        for rows in groups.values():
            try:
                outcomes += list(zip(rows, self._generate_rows(rows), strict=True))
            except Exception as err:  # one failing batch must not stop the worker or other batches
                experts = sorted({row.serving.spec.name for row in rows})
                log.error("generation failed", experts=experts, **failure_fields(err))
                failure = RouterError("generation failed; see the router's log")
                outcomes += [(row, failure) for row in rows]
        self._release([pending for pending in batch])
        for pending, outcome in outcomes:
            if isinstance(outcome, BaseException):
                pending.future.set_exception(outcome)
            else:
                record_quietly(self._metrics, answer_samples(outcome))
                pending.future.set_result(outcome)

    def _release(self, rows: list[Pending]) -> None:
        with self._lock:
            for row in rows:
                row.serving.in_flight -= 1
            idle = [s for s in self._retired if s.in_flight == 0]
            self._retired = [s for s in self._retired if s.in_flight > 0]
        self._drop(idle)

    @torch.inference_mode()
    def _generate_rows(self, rows: list[Pending]) -> list[dict[str, Any] | BaseException]:
        """Answers for rows that share one model, in row order. Each row is tokenized and limited on its own:
        a prompt that does not tokenize or fill the context fails only its row, and each row keeps its own
        max_new_tokens whatever the other rows' prompts."""
        tokenized = [self._tokenize(row.prompt) for row in rows]
        results: list[dict[str, Any] | BaseException] = [
            ids if isinstance(ids, BaseException) else {} for ids in tokenized
        ]
        ids_of = {index: ids for index, ids in enumerate(tokenized) if isinstance(ids, list)}
        runnable = list(ids_of)
        lengths = [len(ids_of[index]) for index in runnable]
        budgets = [
            row_budget(rows[index].max_new_tokens, len(ids_of[index]), self.context_tokens)
            for index in runnable
        ]
        for call in plan_calls(lengths, budgets, self.context_tokens):
            indices = [runnable[position] for position in call]
            answers = self._decode_call(
                [rows[i] for i in indices], [ids_of[i] for i in indices], [budgets[p] for p in call]
            )
            for index, decoded in zip(indices, answers, strict=True):
                text, finish, completion_tokens = decoded
                results[index] = rows[index].answer(text, finish, len(ids_of[index]), completion_tokens)
        return results

    def _tokenize(self, prompt: str) -> list[int] | RequestError:
        """The prompt's token ids with the template, or the error that fails its row alone."""
        try:
            ids = self._tokenizer(prompt_text(prompt), add_special_tokens=False)["input_ids"]
        except (TypeError, ValueError) as err:  # e.g. a lone surrogate the tokenizer cannot encode
            return RequestError(f"prompt cannot be tokenized: {err}", field="prompt")
        if len(ids) >= self.context_tokens:
            return PromptTooLong(
                f"prompt is {len(ids)} tokens with the template; the model's context is "
                f"{self.context_tokens} tokens: shorten it",
                field="prompt",
            )
        return ids

    def _decode_call(
        self, rows: list[Pending], prompt_ids: list[list[int]], budgets: list[int]
    ) -> list[tuple[str, str, int]]:
        """One generate call (per adapter with strategy `group`) for rows that fit the context together,
        each row in a value format decoded under its grammar when `constrained_decoding` is on."""
        with self._model_lock:
            model = rows[0].serving.model if rows[0].serving.model is not None else self._model
            batch = {key: value.to(self.device) for key, value in left_pad(prompt_ids, self._pad_id).items()}
            width = batch["input_ids"].shape[1]
            kwargs: dict[str, Any] = {
                "max_new_tokens": max(budgets),
                "do_sample": False,
                "use_cache": True,
                "pad_token_id": self._pad_id,
                "eos_token_id": self._tokenizer.eos_token_id,
            }
            adapters = [row.serving.adapter for row in rows]
            streamer = batch_streamer(
                [row.on_delta for row in rows], budgets, self._text_of, self._tokenizer.eos_token_id
            )
            formats = [row.route.format for row in rows]
            grammar = grammar_call_kwargs(
                model, self._tokenizer, formats, budgets, self.settings.constrained_decoding
            )
            if not isinstance(model, PeftModel) or self.settings.strategy == "mixed":
                if isinstance(model, PeftModel):
                    kwargs["adapter_names"] = [adapter or BASE_ADAPTER for adapter in adapters]
                kwargs.update(grammar(range(len(rows))))
                output = model.generate(**batch, **kwargs, streamer=streamer)
            else:
                output = generate_per_adapter(model, batch, adapters, kwargs, self._pad_id, streamer, grammar)
        decoded = []
        for new_ids, budget in zip(output[:, width:].tolist(), budgets, strict=True):
            ids, finish = cut_answer(new_ids, self._tokenizer.eos_token_id, budget)
            decoded.append((self._text_of(ids), finish, len(ids)))
        return decoded

    def _text_of(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=True)

    # ------------------------------------------------------------------------------ reload and listing

    def reload(self, specialist: str | None = None) -> dict[str, Any]:
        """Re-read promoted.json and swap every changed specialist (or only `specialist`): the new version
        loads under a fresh adapter name, routing switches to it atomically, and the old one is deleted
        once the requests that started on it have finished. A failed load leaves the old one serving."""
        with self._reload_lock:
            table = served_table(self.run_dir, check_weights=False)
            if specialist is not None and specialist not in table.specialists:
                promoted = ", ".join(sorted(table.specialists)) or "none"
                raise UnknownExpert(
                    f"no specialist {specialist!r} in {PROMOTED_FILE}; promoted: {promoted}",
                    field="specialist",
                )
            report: dict[str, Any] = {
                "swapped": [],
                "unchanged": [],
                "added": [],
                "removed": [],
                "failed": {},
            }
            names = [specialist] if specialist else sorted(table.specialists)
            for name in names:
                spec = table.specialists[name]
                with self._lock:
                    current = self._serving.get(name)
                if current is not None and (current.spec.path, current.spec.method) == (
                    spec.path,
                    spec.method,
                ):
                    report["unchanged"].append(name)
                    continue
                try:
                    fresh = self._load_expert(spec)
                except RouterError as err:
                    report["failed"][name] = str(err)
                    record_quietly(self._metrics, reload_samples(name, ok=False))
                    log.error(
                        "reload failed; the previous version keeps serving", expert=name, error=str(err)
                    )
                    continue
                self._publish(name, fresh)
                record_quietly(self._metrics, reload_samples(name, ok=True))
                report["swapped" if current is not None else "added"].append(name)
            if specialist is None:
                with self._lock:
                    gone = [n for n in self._serving if n != COORDINATOR and n not in table.specialists]
                for name in gone:
                    self._publish(name, None)
                    report["removed"].append(name)
            if table.coordinator.path != self._base_path:
                report["warning"] = (
                    f"the coordinator's base changed to {table.coordinator.path}; the router "
                    f"still serves {self._base_path}: restart it to switch bases"
                )
            log.info("router reloaded", **{k: v for k, v in report.items() if v})
            return report

    def _publish(self, name: str, fresh: Serving | None) -> None:
        """Point routing at `fresh` (None: stop serving `name`) and retire the version it replaces."""
        with self._lock:
            old = self._serving.get(name)
            if fresh is None:
                self._serving.pop(name, None)
            else:
                self._serving[name] = fresh
            specs = [s.spec for n, s in self._serving.items() if n != COORDINATOR]
            self._table = ExpertTable(
                self._table.coordinator, {s.name: s for s in specs}, tracks_served(specs)
            )
            idle: list[Serving] = []
            if old is not None:
                old.retired = True
                (idle if old.in_flight == 0 else self._retired).append(old)
        self._drop(idle)

    def models(self) -> dict[str, Any]:
        """Every expert, the adapter and checkpoint it serves, the track routing table, retired versions."""
        with self._lock:
            experts = [serving.describe() for serving in self._serving.values()]
            routes = {track: self._table.serving(track)[0] for track in ("ascii", "runic", "general")}
            retired = [serving.describe() for serving in self._retired]
        with self._model_lock:
            parameters = parameter_counts(self._model)
        return {
            "run_dir": str(self.run_dir),
            "base": str(self._base_path),
            "device": str(self.device),
            "strategy": self.settings.strategy,
            "experts": experts,
            "routes": routes,
            "parameters": parameters,
            "retired": retired,
        }

    def health(self) -> dict[str, Any]:
        """`ok` while the batching worker runs and the router is open; `stopped` otherwise."""
        alive = self._worker.is_alive() and not self._closed
        return {"status": "ok" if alive else "stopped", "queued": self._queue.qsize()}

    def limits(self) -> dict[str, Any]:
        return {**asdict(self.settings), "context_tokens": self.context_tokens}

    def stats(self) -> dict[str, Any]:
        """The batches the worker formed so far (see serving.batching.BatchStats.snapshot)."""
        return self._stats.snapshot()

    def served_run_dir(self) -> str:
        return str(self.run_dir.resolve())

    def close(self) -> None:
        """Stop the worker after the requests already queued; later submits raise RouterError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._worker.join()
