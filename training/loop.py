"""The recipe for one phase: setup -> train (steps, evaluation, checkpoints, hooks) -> finish -> cleanup."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import structlog
import torch

from fileio.atomic import write_json_atomic
from training import checkpoint as ckpt
from training import faults
from training.evaluate import evaluate
from training.events import (
    CheckpointFailed,
    CheckpointSaved,
    EpochEval,
    Event,
    Fault,
    FaultKind,
    Heartbeat,
    PhaseEnded,
    PhaseStarted,
    PhaseStatus,
    RolledBack,
    StepMetrics,
    StepSkipped,
)
from training.hooks import FaultAction, TrainerHooks
from training.model import compute_dtype, load_tokenizer, pick_device, release_memory, trainable_parameters
from training.phase_data import PhaseData, load_phase_model
from training.phase_io import read_phase_checkpoint, write_phase_checkpoint
from training.phase_summary import summarise_phase
from training.plan import PhasePlan, StopPhase, TrainState
from training.progress import PhaseProgress
from training.results import PhaseResult
from training.rollback import rollback_target
from training.schedule import LRSchedule
from training.spike_guard import Spike, SpikeGuard
from training.step import StepContext, optimizer_step

PHASE_DONE = "phase_done.json"
CHECKPOINTS = "checkpoints"
log = structlog.get_logger(__name__)


class PhaseTrainer:
    """One phase of training. Read top to bottom: setup, train, step, evaluate, checkpoint, finish."""

    def __init__(
        self, plan: PhasePlan, hooks: TrainerHooks | None = None, show_progress: bool = False
    ) -> None:
        self.plan = plan
        self.hooks = hooks or TrainerHooks()
        self.show_progress = show_progress
        self.settings = plan.settings
        self.checkpoint_root = plan.phase_dir / CHECKPOINTS
        self.log = log.bind(specialist=plan.specialist, phase=plan.phase)
        self._last_beat = 0.0
        self._saved_at: tuple[int, int, int] | None = None
        self._train_time = 0.0
        self._train_tokens = 0
        self.resumed_from: Path | None = None
        self.skipped: list[str] = []
        """Corrupt checkpoints passed over while resuming."""

    # ----------------------------------------------------------------------------------------- setup

    def setup(self, resume: bool) -> None:
        """Load data and model, build optimizer and schedule, then restore the newest valid checkpoint."""
        plan, settings = self.plan, self.settings
        self.started = time.perf_counter()
        if not resume and plan.phase_dir.exists():
            shutil.rmtree(plan.phase_dir)
        plan.phase_dir.mkdir(parents=True, exist_ok=True)
        self._beat("setup", force=True)

        # Data: both splits tokenized once; overlong examples are reported, then truncated or dropped.
        self.device = pick_device()
        self.tokenizer = load_tokenizer(plan.base_dir)
        self.data = PhaseData.load(plan, self.tokenizer)
        self.train_data = self.data.train
        self.total_examples = plan.epochs * len(self.train_data)

        # Model: fresh adapters (or full weights) on the base, then the previous phase's weights if any.
        self.dtype = compute_dtype(plan.model.dtype, self.device)
        self.model = load_phase_model(plan, self.device)
        self.parameters = trainable_parameters(self.model)
        self.scaler = torch.amp.GradScaler(self.device.type) if self.dtype == torch.float16 else None

        # Optimizer and schedule; the RNG streams are seeded so a fresh phase is reproducible.
        self.optimizer = torch.optim.AdamW(
            self.parameters, lr=settings.learning_rate, weight_decay=settings.weight_decay
        )
        self.step_context = StepContext(
            self.model, self.optimizer, self.parameters, self.scaler, self.device,
            int(self.tokenizer.pad_token_id), self._autocast, settings.max_grad_norm,
        )  # fmt: skip
        self.schedule = LRSchedule(
            settings.learning_rate, settings.warmup_ratio, settings.schedule, settings.min_lr_ratio
        )
        self.state = TrainState(micro_batch=settings.micro_batch_size, grad_accum=settings.grad_accum_steps)
        self.guard = SpikeGuard(settings.spike_guard)
        self.injector = faults.FaultInjector(plan.faults, plan.phase_dir)
        ckpt.seed_everything(plan.seed)
        self._open_phase(resume)

    def _open_phase(self, resume: bool) -> None:
        """Resume from the newest checkpoint that passes its checksums (corrupt newer ones are skipped), or
        evaluate the starting weights and checkpoint them; then tell the hooks the phase has started."""
        plan, settings = self.plan, self.settings
        if resume:
            found, skipped = ckpt.newest_valid_checkpoint(self.checkpoint_root)
            self.skipped = [str(item) for item in skipped]
            if found is not None:
                self._restore(found)
                self.resumed_from = found
        start_eval = None
        if self.resumed_from is None:
            # Evaluated before the phase_start checkpoint, so that checkpoint carries its exact match; the
            # event follows PhaseStarted, which opens the phase for whoever tracks it.
            start_eval = self._evaluate(0, start=True, emit=False) if settings.eval_at_start else None
            self.save_checkpoint("phase_start")
        resumed_from = str(self.resumed_from) if self.resumed_from else None
        self._emit(PhaseStarted(
            **self._where(), resumed_from=resumed_from, skipped_checkpoints=self.skipped,
            total_steps=self._planned_steps(), peak_lr=self.schedule.peak_lr,
            micro_batch=self.state.micro_batch, grad_accum=self.state.grad_accum,
        ))  # fmt: skip
        self.log.info(
            "phase start", epochs=plan.epochs, train=len(self.train_data), val=len(self.data.val),
            method=plan.method, device=str(self.device), dtype=str(self.dtype).removeprefix("torch."),
            trainable=sum(p.numel() for p in self.parameters), resumed_from=resumed_from,
        )  # fmt: skip
        if start_eval is not None:
            self._emit(start_eval)

    def _planned_steps(self) -> int:
        per_step = self.state.micro_batch * self.state.grad_accum
        return self.plan.epochs * math.ceil(len(self.train_data) / per_step)

    # ----------------------------------------------------------------------------------------- train

    def train(self) -> PhaseResult:
        """Run epochs until done, stopped, skipped or a fault stops the phase."""
        label = f"{self.plan.specialist}/{self.plan.phase}"
        self.progress = PhaseProgress(self.show_progress, label, self.total_examples, self.plan.epochs)
        with self.progress:
            self.progress.reset_to(self.state.examples_seen)
            try:
                while self.state.epoch < self.plan.epochs:
                    self._step_boundary()
                    indices = self._next_indices()
                    outcome = self._train_step(indices)
                    if isinstance(outcome, Fault):
                        self._after_fault(outcome, indices)
                    elif isinstance(outcome, StepSkipped):
                        self._emit(outcome)
                        self._consume(len(indices))
                    elif outcome is not None:
                        self._advance(outcome, len(indices))
                        if self.state.cursor >= len(self.train_data):
                            self._end_epoch()
            except StopPhase as stop:
                return self._finish(stop.status, stop.reason)
        return self._finish("completed", f"trained {self.plan.epochs} epoch(s)")

    def _next_indices(self) -> list[int]:
        order = self.data.order(self.state.epoch)
        step_size = self.state.micro_batch * self.state.grad_accum
        return order[self.state.cursor : self.state.cursor + step_size]

    def _set_epochs(self, epochs: int) -> None:
        """Stop early or extend: the phase now trains `epochs` epochs, its LR schedule stretched to match."""
        self.log.info("set epochs", before=self.plan.epochs, after=epochs, done=self.state.epoch)
        self.plan = dataclasses.replace(self.plan, epochs=epochs)
        self.total_examples = epochs * len(self.train_data)
        if self.state.epoch >= epochs:
            self.save_checkpoint("phase_end")
            raise StopPhase("completed", f"stopped early after {self.state.epoch} epoch(s)")

    def _step_boundary(self) -> None:
        """Apply the hooks' requests (all take effect here), and wait while paused."""
        while True:
            self._beat("train")
            commands = self.hooks.take_commands()
            # A rollback first: an LR or batch sent with it ("roll back and halve") must outlive the restore.
            if commands.rollback:
                self._rollback(Path(commands.rollback_to) if commands.rollback_to else None)
            if commands.peak_lr is not None:
                self.log.info("set lr", peak_before=self.schedule.peak_lr, peak_after=commands.peak_lr)
                self.schedule.peak_lr = commands.peak_lr
            if commands.micro_batch is not None and commands.grad_accum is not None:
                self.log.info(
                    "set batch",
                    before=(self.state.micro_batch, self.state.grad_accum),
                    after=(commands.micro_batch, commands.grad_accum),
                )
                self.state.micro_batch, self.state.grad_accum = commands.micro_batch, commands.grad_accum
            if commands.epochs is not None:
                self._set_epochs(commands.epochs)
            if commands.checkpoint:
                self.save_checkpoint("on_demand")
            if commands.stop is not None:
                self.save_checkpoint("stop")
                raise StopPhase("stopped", commands.stop)
            if commands.skip_phase is not None:
                self.save_checkpoint("stop")
                raise StopPhase("skipped", commands.skip_phase)
            if not self.hooks.paused:
                return
            self.progress.note("paused")
            self.hooks.wait_if_paused(self.settings.heartbeat_interval_s)
            self._beat("paused", force=not self.hooks.paused)

    def _train_step(self, indices: list[int]) -> StepMetrics | StepSkipped | Fault | None:
        """One optimizer step over `indices`. Non-finite values, OOM and spikes are caught before
        optimizer.step, so they never touch the weights or the optimizer state."""
        state = self.state
        step = state.step + 1
        if self.injector.fire("hang", step):
            self.log.warning("injected hang: no heartbeats until stop()", step=step)
            while not self.hooks.wait_for_stop(1.0):
                pass
            return None
        inject_nan = self.injector.fire("nan", step)
        inject_oom = self.injector.fire("oom", step)
        inject_spike = self.injector.fire("spike", step)
        progress = (state.examples_seen + len(indices)) / self.total_examples
        learning_rate = self.schedule.lr_at(progress)
        try:
            if self.injector.fire("crash", step):
                self._crash(step)
            outcome = optimizer_step(
                self.step_context,
                [self.train_data[i] for i in indices],
                state.micro_batch,
                learning_rate,
                poison_loss=inject_nan,
                simulated_oom=(
                    f"simulated out of memory (oom_at_step={step}, micro_batch={state.micro_batch})"
                    if inject_oom
                    else None
                ),
                loss_factor=faults.SPIKE_FACTOR if inject_spike else 1.0,
                veto=self.guard.check if self.settings.spike_guard.enabled else None,
            )
        except Exception as error:
            injected = isinstance(error, faults.InjectedCrash | faults.SimulatedOOM)
            if faults.is_out_of_memory(error):
                release_memory()
                return self._fault("oom", {}, str(error), injected)
            self._emit(self._fault("exception", {}, f"{type(error).__name__}: {error}", injected))
            raise
        self.state.spike_guard = self.guard.state_dict()
        if isinstance(outcome.veto, Spike):
            return self._skipped(outcome.veto, step)
        if not outcome.applied:
            culprit = "loss" if not math.isfinite(outcome.loss) else "gradient norm"
            return self._fault(
                "non_finite",
                {"loss": outcome.loss, "grad_norm": outcome.grad_norm},
                f"non-finite {culprit} at step {step}; the update was not applied",
                inject_nan,
            )
        return StepMetrics(
            **self._where(step=step), loss=outcome.loss, grad_norm=outcome.grad_norm, lr=learning_rate,
            peak_lr=self.schedule.peak_lr, micro_batch=state.micro_batch, grad_accum=state.grad_accum,
            tokens=outcome.tokens, step_time_s=outcome.seconds, progress=progress,
            tokens_per_s=outcome.tokens / outcome.seconds if outcome.seconds > 0 else 0.0,
            examples_seen=state.examples_seen + len(indices),
        )  # fmt: skip

    def _skipped(self, spike: Spike, step: int) -> StepSkipped:
        threshold = self.settings.spike_guard.z_threshold
        counts = {"z_threshold": threshold, "skipped_in_phase": self.guard.skipped}
        self.log.warning("spike: step skipped", step=step, **vars(spike), **counts)
        return StepSkipped(**self._where(step=step), **vars(spike), **counts)

    def _crash(self, step: int) -> None:
        if self.plan.faults.crash_mode == "exit":
            self.log.error("injected crash: exiting the process", step=step, exit_code=faults.CRASH_EXIT_CODE)
            os._exit(faults.CRASH_EXIT_CODE)
        raise faults.InjectedCrash(f"injected crash (crash_at_step={step})")

    def _fault(self, kind: FaultKind, values: dict[str, float | None], message: str, injected: bool) -> Fault:
        return Fault(
            **self._where(step=self.state.step + 1), fault=kind, values=values, message=message,
            micro_batch=self.state.micro_batch, grad_accum=self.state.grad_accum, injected=injected,
        )  # fmt: skip

    def _after_fault(self, fault: Fault, indices: list[int]) -> None:
        """Report the fault, then follow the hooks' decision (default: stop the phase)."""
        self._emit(fault)
        action = self.hooks.decide(fault)
        self.log.warning(
            "fault", fault=fault.fault, step=fault.step, values=fault.values, micro_batch=fault.micro_batch,
            action=action.value, message=fault.message,
        )  # fmt: skip
        if action is FaultAction.SKIP_STEP:
            self._consume(len(indices))
        elif action is FaultAction.ROLLBACK:
            self._rollback()
        elif action is FaultAction.STOP_PHASE:
            self.save_checkpoint("stop")
            raise StopPhase("faulted", f"{fault.fault} at step {fault.step}: {fault.message}")

    def _consume(self, count: int) -> None:
        """A step that made no update still used its batch: count it, move on, and end the epoch if due."""
        self.state.step += 1
        self.state.cursor += count
        self.state.examples_seen += count
        if self.state.cursor >= len(self.train_data):
            self._end_epoch()

    def _advance(self, metrics: StepMetrics, consumed: int) -> None:
        state = self.state
        state.step = metrics.step
        state.cursor += consumed
        state.examples_seen = metrics.examples_seen
        state.step_losses.append([state.epoch, metrics.step, metrics.loss])
        self._train_time += metrics.step_time_s
        self._train_tokens += metrics.tokens
        self._emit(metrics)
        self.progress.step(metrics)
        if metrics.step % self.settings.log_every_steps == 0:
            self.log.info(
                "step", epoch=state.epoch, step=metrics.step, loss=round(metrics.loss, 5), lr=metrics.lr,
                grad_norm=round(metrics.grad_norm, 4), tokens_per_s=round(metrics.tokens_per_s),
            )  # fmt: skip

    def _end_epoch(self) -> None:
        """Evaluate and checkpoint on schedule; the last epoch always does both."""
        finished = self.state.epoch
        self.state.epoch += 1
        self.state.cursor = 0
        last = self.state.epoch == self.plan.epochs
        if last or self.state.epoch % self.settings.eval_every_epochs == 0:
            self._evaluate(finished)
        every = self.settings.checkpoint_every_epochs
        if last:
            self.save_checkpoint("phase_end")
        elif every and self.state.epoch % every == 0:
            self.save_checkpoint("epoch")

    # -------------------------------------------------------------------------------------- evaluate

    def _evaluate(self, epoch: int, start: bool = False, emit: bool = True) -> EpochEval:
        """Evaluate the weights now (after `epoch`, or before any step when `start`) into state.evals."""
        if not start:
            self.progress.note(f"evaluating epoch {epoch + 1}")
        settings = self.settings
        result = evaluate(
            self.model, self.tokenizer, self.data.val_examples, self.data.val, settings.eval_subset,
            settings.eval_batch_size, settings.max_new_tokens, self.device, self._autocast,
            lambda: self._beat("eval"), constrained=settings.constrained_decoding,
        )  # fmt: skip
        losses = [loss for e, _, loss in self.state.step_losses if int(e) == epoch and not start]
        event = result.to_event(self._where(epoch=epoch), sum(losses) / len(losses) if losses else None)
        event = event.model_copy(update={"start": start})
        self.state.evals.append(event.model_dump(mode="json"))
        if emit:
            self._emit(event)
        self.log.info(
            "start eval" if start else "epoch eval", epoch=epoch, train_loss=event.train_loss,
            val_loss=round(event.val_loss, 5),
            exact_match=event.exact_match, format_validity=event.format_validity,
            seconds=round(result.seconds, 1),
        )  # fmt: skip
        return event

    # ------------------------------------------------------------------------------------ checkpoint

    def save_checkpoint(self, reason: str) -> Path | None:
        """Atomic checkpoint of weights, optimizer, schedule, RNG and counters, then retention.
        Nothing is written when the state has not moved since the last save."""
        marker = (self.state.epoch, self.state.cursor, self.state.step)
        if marker == self._saved_at:
            return None
        self._beat("checkpoint", force=True)
        started = time.perf_counter()
        try:
            if reason == "epoch" and self.injector.fire_from("disk_full", self.state.step):
                raise OSError(errno.ENOSPC, "No space left on device (injected by disk_full_at_step)")
            path, removed, exact_match = write_phase_checkpoint(
                self.plan, self.state, self.schedule, self.total_examples, self.model, self.tokenizer,
                self.optimizer, self.scaler, reason,
            )  # fmt: skip
        except OSError as err:
            # An epoch checkpoint may fail and training go on (the write is atomic, so the previous one is
            # intact); a phase's final checkpoint may not: that error ends the phase and a restart retries.
            if reason != "epoch":
                raise
            previous, _ = ckpt.newest_valid_checkpoint(self.checkpoint_root)
            message = f"{err.__class__.__name__}: {err}"
            self.log.warning(
                "checkpoint write failed; training goes on", error=message, previous=str(previous)
            )
            self._emit(
                CheckpointFailed(
                    **self._where(), message=message, previous_checkpoint=str(previous) if previous else None
                )
            )
            return None
        self._saved_at = marker
        if reason != "phase_start":
            self._train_time += time.perf_counter() - started
        self._emit(CheckpointSaved(**self._where(), path=str(path), reason=reason, exact_match=exact_match))
        self.log.info("checkpoint", path=str(path), reason=reason, removed=[p.name for p in removed])
        return path

    def _restore(self, directory: Path) -> None:
        self.state, self.schedule = read_phase_checkpoint(
            directory, self.model, self.optimizer, self.scaler, self.device
        )
        self.guard = SpikeGuard(self.settings.spike_guard, self.state.spike_guard)
        self._saved_at = (self.state.epoch, self.state.cursor, self.state.step)

    def _rollback(self, target: Path | None = None) -> None:
        """Restore `target` if it is valid, else the newest valid checkpoint of the phase."""
        root = self.checkpoint_root
        found, skipped = rollback_target(root, target)
        if found is None:
            raise StopPhase("faulted", f"rollback requested but no valid checkpoint in {root}")
        self._restore(found)
        self.progress.reset_to(self.state.examples_seen)
        passed_over = [str(item) for item in skipped]
        self._emit(RolledBack(**self._where(), checkpoint=str(found), skipped_checkpoints=passed_over))
        self.log.warning("rolled back", checkpoint=str(found), step=self.state.step, skipped=passed_over)

    # ---------------------------------------------------------------------------------------- finish

    def _finish(self, status: PhaseStatus, reason: str) -> PhaseResult:
        result = summarise_phase(
            self.plan, self.state, status, reason, self.resumed_from, self.skipped,
            self.data, (time.perf_counter() - self.started, self._train_time), self._train_tokens,
        )  # fmt: skip
        if status in ("completed", "skipped"):
            write_json_atomic(self.plan.phase_dir / PHASE_DONE, result.model_dump(mode="json"))
        self._emit(PhaseEnded(**self._where(), status=status, reason=reason))
        self.log.info("phase end", status=status, reason=reason, steps=result.steps,
                      final=str(result.final_checkpoint))  # fmt: skip
        return result

    def cleanup(self) -> None:
        """Drop the model and optimizer so the next phase has the memory."""
        for name in ("model", "optimizer", "parameters", "scaler", "step_context"):
            if hasattr(self, name):
                delattr(self, name)
        release_memory()

    # --------------------------------------------------------------------------------------- helpers

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def _who(self) -> dict[str, Any]:
        return {"specialist": self.plan.specialist, "phase": self.plan.phase}

    def _where(self, epoch: int | None = None, step: int | None = None) -> dict[str, Any]:
        return {
            **self._who(),
            "epoch": self.state.epoch if epoch is None else epoch,
            "step": self.state.step if step is None else step,
        }

    def _emit(self, event: Event) -> None:
        self.hooks.on_event(event)

    def _beat(self, stage: str, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_beat >= self.settings.heartbeat_interval_s:
            self._last_beat = now
            # Before setup has built the counters, the heartbeat is at epoch 0, step 0.
            where = self._where() if hasattr(self, "state") else {**self._who(), "epoch": 0, "step": 0}
            self.hooks.on_event(Heartbeat(**where, stage=stage))  # type: ignore[arg-type]


def run_phase(plan: PhasePlan, hooks: TrainerHooks | None, resume: bool, show_progress: bool) -> PhaseResult:
    """setup -> train -> cleanup for one phase (a finished phase is returned from its record)."""
    done = plan.phase_dir / PHASE_DONE
    if resume and done.is_file():
        result = PhaseResult.model_validate_json(done.read_text(encoding="utf-8"))
        return result.model_copy(update={"wall_time_s": 0.0, "train_time_s": 0.0, "train_tokens": 0})
    trainer = PhaseTrainer(plan, hooks, show_progress)
    try:
        trainer.setup(resume)
        return trainer.train()
    finally:
        trainer.cleanup()
