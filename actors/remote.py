"""The one place where the plain actor classes become named Ray actors, with restarts chosen on purpose."""

from __future__ import annotations

import threading
import time
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError

from actors.names import NAMESPACE, SUPERVISOR_NAME, trainer_name, watchdog_name
from actors.supervisor import Supervisor
from actors.trainer_actor import TrainerActor
from actors.watchdog_actor import WatchdogActor
from settings.run import RunConfig

GRADE_TIMEOUT_S = 300.0
KILL_WAIT_S = 10.0


class RayWorkers:
    """The supervisor's Workers: named trainer and watchdog actors in namespace `overnight`."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.train_refs: dict[str, ray.ObjectRef] = {}

    def _trainer(self, specialist: str) -> ray.actor.ActorHandle:
        resources = self.config.resources
        limits = self.config.supervisor
        actor = ray.remote(TrainerActor).options(
            name=trainer_name(specialist),
            namespace=NAMESPACE,
            get_if_exists=True,
            lifetime="detached",
            num_cpus=resources.trainer_num_cpus,
            num_gpus=resources.trainer_num_gpus,
            # A dead process is restarted and its in-flight train() retried; train() resumes from checkpoints.
            max_restarts=limits.trainer_max_restarts,
            max_task_retries=limits.trainer_max_restarts,
            max_concurrency=4,
        )
        return actor.remote(self.config, specialist, max(1, int(resources.trainer_num_cpus)))

    def _watchdog(self, specialist: str) -> ray.actor.ActorHandle:
        actor = ray.remote(WatchdogActor).options(
            name=watchdog_name(specialist),
            namespace=NAMESPACE,
            get_if_exists=True,
            lifetime="detached",
            num_cpus=0,
            max_restarts=3,
            max_task_retries=2,
            # Grades run side by side (the grader is thread-safe): a slow one never queues the next.
            max_concurrency=4,
        )
        # The run directory holds the LLM budget ledger that every watchdog shares, across restarts too.
        return actor.remote(specialist, self.config.grader, str(self.config.run_dir()))

    def start(self, specialist: str, job: dict[str, Any] | None = None) -> None:
        self.train_refs[specialist] = self._trainer(specialist).train.remote(job)
        # Started with its trainer, so its imports are done by the first grade.
        self._watchdog(specialist)

    def exists(self, specialist: str) -> bool:
        try:
            ray.get_actor(trainer_name(specialist), namespace=NAMESPACE)
        except ValueError:
            return False
        return True

    def send(self, specialist: str, command: dict[str, Any]) -> None:
        self._trainer(specialist).command.remote(command)

    def restart(self, specialist: str) -> None:
        ray.kill(self._trainer(specialist), no_restart=False)

    def kill(self, specialist: str) -> None:
        self.train_refs.pop(specialist, None)
        try:
            ray.kill(ray.get_actor(trainer_name(specialist), namespace=NAMESPACE), no_restart=True)
        except ValueError:
            return  # no such actor: nothing to stop
        # Wait for the name to be free: a job may start a new trainer under it right after.
        deadline = time.monotonic() + KILL_WAIT_S
        while time.monotonic() < deadline and self.exists(specialist):
            time.sleep(0.1)

    def grade(self, specialist: str, window: dict[str, Any]) -> dict[str, Any]:
        return ray.get(self._watchdog(specialist).grade.remote(window), timeout=GRADE_TIMEOUT_S)

    def promoted(self, specialist: str) -> None:
        # Off the supervisor's lock: a router, when one serves this run, reloads that adapter by itself.
        threading.Thread(target=self._reload_router, args=(specialist,), daemon=True).start()

    def _reload_router(self, specialist: str) -> None:
        from actors.router_service import running_router

        router = running_router(self.config.run_dir())
        if router is not None:
            router.reload.remote(specialist)

    def lost(self) -> list[tuple[str, str]]:
        lost: list[tuple[str, str]] = []
        for specialist, ref in list(self.train_refs.items()):
            ready, _ = ray.wait([ref], timeout=0)
            if not ready:
                continue
            del self.train_refs[specialist]
            try:
                ray.get(ref)
            except RayActorError as err:
                lost.append((specialist, str(err).splitlines()[0]))
            except GetTimeoutError:
                continue
        return lost


class SupervisorActor(Supervisor):
    """The supervisor with Ray workers; after a Ray restart it reloads its state and carries on by itself."""

    def __init__(self, config: RunConfig, run_dir: str, config_path: str) -> None:
        super().__init__(config, run_dir, config_path, RayWorkers(config))
        # After a Ray restart nobody else will call start(): a run found on disk carries on by itself.
        if self.resumed and self.state.status == "running":
            self.start()


def spawn_supervisor(
    config: RunConfig, run_dir: str, config_path: str
) -> ray.actor.ActorHandle:
    """The named supervisor (an existing one is reused, so a rerun of the driver re-attaches)."""
    actor = ray.remote(SupervisorActor).options(
        name=SUPERVISOR_NAME,
        namespace=NAMESPACE,
        get_if_exists=True,
        lifetime="detached",
        num_cpus=0,
        # Its hard state is on disk and its methods are idempotent, so restarts and retries are safe.
        max_restarts=config.supervisor.supervisor_max_restarts,
        max_task_retries=-1,
        max_concurrency=64,
    )
    return actor.remote(config, run_dir, config_path)


def kill_run_actors(specialists: list[str]) -> None:
    """Remove the night's trainers, watchdogs and supervisor (they are detached, so nothing else will)."""
    names = (
        [trainer_name(s) for s in specialists] + [watchdog_name(s) for s in specialists] + [SUPERVISOR_NAME]
    )
    for name in names:
        try:
            ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
        except ValueError:
            continue  # never started or already gone
