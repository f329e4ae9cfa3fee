"""The whole run config: the recipe's sections plus watchdog, grader, policies, resources, supervisor, inbox,
notify and router; `load_run_config` parses and validates it once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from settings.base import Problems, StrictModel, raise_problems
from settings.grader import GraderSection, WatchdogSection
from settings.notify import NotifySection
from settings.policies import PolicyLimits
from settings.recipe import RecipeConfig, load_config
from settings.router import RouterSection

__all__ = [
    "DEFAULT_CONFIG",
    "GraderSection",
    "InboxSection",
    "ResourcesSection",
    "RunConfig",
    "SupervisorSection",
    "WatchdogSection",
    "load_run_config",
]

DEFAULT_CONFIG = Path("configs/demo.yaml")


class ResourcesSection(StrictModel):
    """What each actor asks Ray for: whole GPUs per trainer on a cluster, CPU fractions on a laptop."""

    trainer_num_cpus: float = Field(1.0, ge=0)
    """CPUs reserved per trainer; its torch thread count follows (at least 1)."""
    trainer_num_gpus: float = Field(0.0, ge=0)
    """GPUs per trainer (1 on a GPU cluster, 0 on CPU)."""
    router_num_gpus: float = Field(0.0, ge=0)
    """GPUs for the router (the base model is loaded once for every expert)."""


class SupervisorSection(StrictModel):
    """How the supervisor runs the night."""

    parallel_specialists: bool = True
    """Train the specialists concurrently (after the foundation); False trains them one after another."""
    trainer_max_restarts: int = Field(3, ge=0)
    """Ray restarts of a trainer whose process died (it resumes from its checkpoint)."""
    supervisor_max_restarts: int = Field(10, ge=0)
    """Ray restarts of the supervisor (it reloads run_state.json and the decision log)."""
    poll_interval_s: float = Field(0.5, gt=0)
    """How often the supervisor checks heartbeats and schedules work."""
    startup_grace_s: float = Field(300.0, gt=0)
    """Seconds a (re)started trainer may take to report for the first time (imports, model load) before
    the stall rule (policies.stall_seconds) applies."""
    divergence_min_steps: int = Field(10, ge=2)
    """Steps a phase must have trained before the divergence rule (loss > k x window best) applies."""


class InboxSection(StrictModel):
    """Continuous training (`overnight run --watch`): where new data arrives and how it is trained."""

    dir: Path | None = None
    """Inbox root holding high/, normal/ and low/ (and the lifecycle folders); default <run dir>/inbox."""
    epochs: int = Field(2, ge=1)
    """Epochs a job trains when its file does not say (`submit --epochs`, or the sidecar's "epochs")."""
    val_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    """Share of a file carved out as the job's val split when no record is marked "split": "val"."""
    regression_margin: float = Field(0.0, ge=0.0, le=1.0)
    """A job is promoted when its exact match on the standing val set is at least the promoted
    checkpoint's minus this margin (0: never worse)."""
    settle_s: float = Field(1.0, ge=0.0)
    """A dropped file is taken once it has not changed for this long (a copy in progress is not read)."""

    def root(self, run_dir: Path) -> Path:
        return Path(self.dir).expanduser() if self.dir is not None else run_dir / "inbox"


class RunConfig(RecipeConfig):
    """Everything `overnight run` needs; unknown keys fail and every problem is reported at once."""

    watchdog: WatchdogSection = Field(default_factory=WatchdogSection)
    """When the watchdogs grade."""
    grader: GraderSection = Field(default_factory=GraderSection)
    """How they grade."""
    policies: PolicyLimits = Field(default_factory=PolicyLimits)
    """Bounds of the intervention policies."""
    resources: ResourcesSection = Field(default_factory=ResourcesSection)
    """Ray resource requests."""
    supervisor: SupervisorSection = Field(default_factory=SupervisorSection)
    """The supervisor's own settings."""
    inbox: InboxSection = Field(default_factory=InboxSection)
    """Continuous training after the night's plan (`overnight run --watch`)."""
    notify: NotifySection = Field(default_factory=NotifySection)
    """The morning notification: a webhook told when the night ends or a specialist is aborted (off)."""
    router: RouterSection = Field(default_factory=RouterSection)
    """How the router serves the run's experts (`overnight ask`, `overnight serve`, `run --watch`)."""

    @model_validator(mode="after")
    def _router_answers_fit(self) -> RunConfig:
        problems: Problems = []
        served = self.router_settings()
        default, limit = served["default_max_new_tokens"], served["max_new_tokens_limit"]
        if default > limit:
            problems.append(
                (
                    ("router", "max_new_tokens_limit"),
                    f"must be >= the default answer length {default} (router.default_max_new_tokens, else "
                    f"training.max_new_tokens), got {limit}",
                )
            )
        raise_problems(problems)
        return self

    def router_settings(self) -> dict[str, Any]:
        """The router's settings (serving.routing.RouterSettings fields) for this run."""
        return self.router.settings_for(self.training.max_new_tokens)


def load_run_config(path: str | Path = DEFAULT_CONFIG, machine_checks: bool = True) -> RunConfig:
    """Read and validate a run config; raises settings.errors.ConfigError listing every problem.
    `machine_checks=False` leaves out what depends on this machine (model directory, CUDA), to read a
    finished run's config elsewhere."""
    return load_config(path, RunConfig, machine_checks)
