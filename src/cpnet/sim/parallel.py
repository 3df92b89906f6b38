"""Parallel what-if runs: the same (policy, seed) runs as a serial loop, in worker processes or as Ray tasks.

The unit of work is one `RunSpec` (a policy config and a seed) over `SharedInputs` (scenario,
throughput table, catalog, and one job list per seed), which every engine gets whole:

- `run_serial`: in this process, one run after the other (what `--jobs-parallel 1` does).
- `run_in_processes`: a ProcessPoolExecutor with the "spawn" context (never fork: the caller may
  have threads). The inputs are pickled once here and unpickled once per worker by its
  initializer (on a 3,000-job trace: ~0.25 s to pickle and unpickle, against ~1.4 s to load the
  throughput table, scenario and trace again in each worker). Workers send (run, sim time, jobs
  ended) to a multiprocessing queue from the driver's progress hook; they ignore SIGINT, so
  Ctrl-C reaches this process, which sets a stop event (each worker's run ends at its next
  progress call), cancels what has not started and terminates what has not ended.
- `run_on_ray`: one Ray task per run on an existing cluster (`ray.init(address=...)`; an address
  where nothing answers is a CpnetError and no Ray is started). The inputs go to the object store
  once; progress comes back through a Ray queue actor. Workers import cpnet, so it must be
  installed where the cluster's workers run.

Every engine calls `run_one`, so a run's SimulationResult and Metrics do not depend on where it
ran: results.json is byte-identical whichever engine made it. Only wall times differ.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue as queue_mod
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from cpnet.core.errors import CpnetError

if TYPE_CHECKING:
    import multiprocessing.queues
    import multiprocessing.synchronize

    from cpnet.core.model import Accelerator, JobSpec
    from cpnet.core.snapshot import ThroughputTable
    from cpnet.sched.runner import SchedulerConfig
    from cpnet.sim.driver import Network
    from cpnet.sim.metrics import Metrics
    from cpnet.sim.records import SimulationResult

PROBE_TIMEOUT_S = 5.0  # how long a Ray address may take to accept a TCP connection
POLL_S = 0.1  # how often the parent drains progress messages while runs are going
STOP_GRACE_S = 3.0  # after Ctrl-C, how long running workers get to stop before they are terminated


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One unit of work: `config`'s policy on the job list of `seed`; `index` is its place in the output."""

    index: int
    config: SchedulerConfig
    seed: int
    network: Network | None = None  # a what-if network in place of the shared scenario (capacity plans)
    until_s: float | None = None  # stop the run here (run_simulation's until_s)
    name: str | None = None  # what the run is called in errors; default: its policy and seed
    stop_misses: tuple[str, float, int] | None = None  # (metric, bound_s, misses): stop early (cpnet.sim.early_stop)

    @property
    def label(self) -> str:
        return self.name or f"policy {self.config.policy}, seed {self.seed}"


@dataclass(frozen=True, slots=True)
class SharedInputs:
    """What every run reads: one scenario, throughput table and catalog, and a job list per seed."""

    scenario: Network
    throughput: ThroughputTable
    catalog: Mapping[str, Accelerator]
    jobs: Mapping[int, Sequence[JobSpec]]  # by seed


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """A finished run: its result and metrics, the simulation's wall and CPU time, and the process that ran it.

    `cpu_s` well below `wall_s` means the run waited for a CPU (other processes on the machine).
    """

    index: int
    result: SimulationResult
    metrics: Metrics
    wall_s: float
    cpu_s: float
    pid: int
    host: str


class RunProgress(Protocol):
    """Where the engines report: `advance` while a run goes (sim time, jobs ended), `finish` once it has ended."""

    def advance(self, index: int, now_s: float, done: int) -> None: ...

    def finish(self, outcome: RunOutcome) -> None: ...


def run_one(shared: SharedInputs, spec: RunSpec, progress: Callable[[float, int], None] | None = None) -> RunOutcome:
    """Simulate one run and compute its metrics: the same code whichever engine calls it."""
    from cpnet.sim.driver import run_simulation
    from cpnet.sim.early_stop import MissWatch
    from cpnet.sim.metrics import compute_metrics

    t0, c0 = time.perf_counter(), time.process_time()
    watch = None if spec.stop_misses is None else MissWatch(*spec.stop_misses)
    result = run_simulation(
        scenario=spec.network or shared.scenario, jobs=shared.jobs[spec.seed], policy=spec.config, throughput=shared.throughput,
        catalog=shared.catalog, seed=spec.seed, progress=progress, until_s=spec.until_s, on_event=watch,
    )  # fmt: skip
    wall_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    return RunOutcome(spec.index, result, compute_metrics(result), wall_s, cpu_s, os.getpid(), socket.gethostname())


def quiet_highs_banner() -> None:
    """HiGHS prints a banner on fd 1 when a process first builds a solver; build one with fd 1 muted."""
    import highspy

    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def default_workers(runs: int) -> int:
    """One worker per CPU this process may use, at most one per run."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, runs))


def run_serial(shared: SharedInputs, specs: Sequence[RunSpec], sink: RunProgress) -> list[RunOutcome]:
    """Each run in this process, in order."""
    outcomes = []
    for spec in specs:

        def tick(now_s: float, done: int, index: int = spec.index) -> None:
            sink.advance(index, now_s, done)

        try:
            outcome = run_one(shared, spec, tick)
        except CpnetError as exc:  # named like the other engines name a failed run
            raise CpnetError(f"{spec.label}: {exc}") from exc
        sink.finish(outcome)
        outcomes.append(outcome)
    return outcomes


# ---- worker processes -------------------------------------------------------------------------


class _Stopped(Exception):
    """Raised inside a worker's run when the parent asked every worker to stop."""


_worker: dict[str, Any] = {}  # per worker process: the shared inputs, the progress queue, the stop event


def _init_worker(payload: bytes, progress: multiprocessing.queues.Queue[tuple[int, float, int]], stop: multiprocessing.synchronize.Event) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the workers
    _worker["shared"] = pickle.loads(payload)
    _worker["queue"] = progress
    _worker["stop"] = stop
    quiet_highs_banner()


def _worker_run(spec: RunSpec) -> RunOutcome:
    progress: multiprocessing.queues.Queue[tuple[int, float, int]] = _worker["queue"]
    stop: multiprocessing.synchronize.Event = _worker["stop"]

    def tick(now_s: float, done: int) -> None:
        if stop.is_set():
            raise _Stopped
        progress.put((spec.index, now_s, done))

    try:
        return run_one(_worker["shared"], spec, tick)
    except CpnetError as exc:  # a plain CpnetError: subclasses with their own __init__ do not unpickle
        raise CpnetError(f"{spec.label}: {exc}") from None


def run_in_processes(shared: SharedInputs, specs: Sequence[RunSpec], workers: int, sink: RunProgress) -> list[RunOutcome]:
    """The runs on `workers` spawned processes; outcomes in `specs` order."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    progress: multiprocessing.queues.Queue[tuple[int, float, int]] = ctx.Queue()
    stop = ctx.Event()
    payload = pickle.dumps(shared, protocol=pickle.HIGHEST_PROTOCOL)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(payload, progress, stop))
    outcomes: dict[int, RunOutcome] = {}
    futures: dict[Future[RunOutcome], RunSpec] = {}
    try:
        futures = {pool.submit(_worker_run, spec): spec for spec in specs}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
            _drain(progress, sink, outcomes)
            for future in done:
                outcome = future.result()  # a worker's exception is raised here
                outcomes[outcome.index] = outcome
                sink.finish(outcome)
    except BaseException:  # Ctrl-C or a failed run: stop the others, then re-raise
        _stop_pool(pool, futures, stop)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        progress.close()
        progress.join_thread()
    return [outcomes[spec.index] for spec in specs]


def _drain(progress: multiprocessing.queues.Queue[tuple[int, float, int]], sink: RunProgress, ended: Mapping[int, RunOutcome]) -> None:
    while True:
        try:
            index, now_s, done = progress.get_nowait()
        except queue_mod.Empty:
            return
        if index not in ended:  # a late message must not move a finished run's bar back
            sink.advance(index, now_s, done)


def _stop_pool(pool: ProcessPoolExecutor, futures: Mapping[Future[RunOutcome], RunSpec], stop: multiprocessing.synchronize.Event) -> None:
    stop.set()
    for future in futures:
        future.cancel()
    deadline = time.monotonic() + STOP_GRACE_S
    running = [f for f in futures if not f.done()]
    if running:
        wait(running, timeout=max(0.0, deadline - time.monotonic()))
    # Runs that did not reach a progress call in the grace period: end their processes.
    # (ProcessPoolExecutor has no public terminate before Python 3.14.)
    processes = getattr(pool, "_processes", None) or {}
    for proc in list(processes.values()):
        if proc.is_alive():
            proc.terminate()
    for proc in list(processes.values()):
        proc.join(timeout=STOP_GRACE_S)


# ---- Ray ----------------------------------------------------------------------------------------


def _ray_run(shared: SharedInputs, spec: RunSpec, progress: Any) -> RunOutcome:
    """One Ray task: the run, its progress pushed to the driver's queue actor."""

    def tick(now_s: float, done: int) -> None:
        progress.put_nowait((spec.index, now_s, done))

    try:
        return run_one(shared, spec, tick)
    except CpnetError as exc:
        raise CpnetError(f"{spec.label}: {exc}") from None


def ray_host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a Ray address (HOST:PORT or ray://HOST:PORT); None for "auto"."""
    if address == "auto":
        return None
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise CpnetError(f"--ray '{address}': not HOST:PORT, ray://HOST:PORT or auto")
    return host.strip("[]"), int(port)


def check_ray_address(address: str) -> None:
    """CpnetError unless Ray is installed and something accepts connections at `address` ("auto" is not probed).

    ray.init waits long on an address where nothing answers; this says so in at most PROBE_TIMEOUT_S.
    """
    try:
        import ray  # noqa: F401
    except ImportError:
        raise CpnetError("--ray: Ray is not installed; install the engines extra: pip install -e '.[engines]'") from None
    where = ray_host_port(address)
    if where is not None:
        try:
            socket.create_connection(where, timeout=PROBE_TIMEOUT_S).close()
        except OSError as exc:
            raise CpnetError(
                f"--ray {address}: no Ray cluster answers there ({exc.strerror or exc.__class__.__name__}); "
                "start one (ray start --head) or fix the address; cpnet never starts a private Ray"
            ) from None


def _join_ray(address: str) -> bool:
    """Connect this process to the cluster at `address` (True when this call connected it); never starts one."""
    check_ray_address(address)
    import ray

    if ray.is_initialized():
        return False
    try:
        # An explicit address makes ray.init connect or fail: it starts a local cluster only without one.
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except Exception as exc:  # ray.init's own errors (ConnectionError, RuntimeError, version mismatch, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise CpnetError(f"--ray {address}: cannot join the Ray cluster there: {first}") from None
    return True


def run_on_ray(address: str, shared: SharedInputs, specs: Sequence[RunSpec], sink: RunProgress) -> list[RunOutcome]:
    """The runs as Ray tasks (1 CPU each) on the cluster at `address`; outcomes in `specs` order."""
    joined = _join_ray(address)
    import ray
    from ray.util.queue import Queue

    pending: dict[Any, RunSpec] = {}
    try:
        progress = Queue(actor_options={"num_cpus": 0})  # takes no CPU from the runs
        shared_ref = ray.put(shared)
        task = ray.remote(num_cpus=1, max_retries=0)(_ray_run)
        pending = {task.remote(shared_ref, spec, progress): spec for spec in specs}
        outcomes: dict[int, RunOutcome] = {}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
            _drain_ray(progress, sink, outcomes)
            for ref in ready:
                spec = pending.pop(ref)
                outcome = _ray_result(ray, ref, spec)
                outcomes[outcome.index] = outcome
                sink.finish(outcome)
        return [outcomes[spec.index] for spec in specs]
    except BaseException:  # Ctrl-C or a failed run: cancel the others, then re-raise
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        if joined:
            ray.shutdown()


def _drain_ray(progress: Any, sink: RunProgress, ended: Mapping[int, RunOutcome]) -> None:
    n = progress.qsize()
    if n:
        for index, now_s, done in progress.get_nowait_batch(n):
            if index not in ended:
                sink.advance(index, now_s, done)


def _ray_result(ray: Any, ref: Any, spec: RunSpec) -> RunOutcome:
    try:
        outcome: RunOutcome = ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, CpnetError):
            raise CpnetError(str(cause)) from None
        if isinstance(cause, ModuleNotFoundError) and (cause.name or "").startswith("cpnet"):
            raise CpnetError(f"{spec.label}: the Ray workers cannot import cpnet; install it on every node of the cluster") from None
        raise
    return outcome
