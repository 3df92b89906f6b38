"""`ray`: runs placed jobs on a Ray cluster, each as a subprocess inside a Ray task on the site's nodes.

Sites are read from node resources, live, at every `inventory()` call:
- a node carrying `cpnet_site:<id>` belongs to site `<id>`; its `cpnet_accel:<model>` resources
  count its devices of each catalog model (operators set them equal to the node's GPUs);
- with `site="<id>"` in the config, nodes without a `cpnet_site:*` resource belong to that site
  too, and their devices are Ray's own `GPU` resource of model `accelerator_type:<X>`.
A site whose nodes all died is reported with zero devices (it shrinks, it does not vanish, as
long as this executor saw it; the reconciler takes a site with no usable device DOWN).

Every launch reserves a placement group of one bundle per device, each bundle pinned to the site
(`cpnet_site:<id>`: 0.001) and to the model (`cpnet_accel:<model>`: 1, plus `GPU`: 1 where the
nodes have GPUs so that Ray sets CUDA_VISIBLE_DEVICES). Ray reserves all bundles at once or none
(gang semantics); a group not ready within `gang_timeout_s` is removed and the job reported LOST
(the capacity it was placed on is not there). One worker task per bundle runs the command with
CPNET_RANK / CPNET_WORLD_SIZE / CPNET_MASTER_ADDR / CPNET_MASTER_PORT (rank 0's node).

Outcomes: every rank exits 0 -> SUCCEEDED; a rank exits non-zero -> FAILED with its code (the other
ranks are cancelled); a worker dies with its node, or Ray fails the task for any reason other than
the job's exit code -> LOST. Tasks run with `max_retries=0`: re-placement is the reconciler's call.

Metering: device-seconds are the sum over ranks of Ray's own task timing (state API
`start_time_ms` / `end_time_ms`, which needs the dashboard on the head node); when Ray does not
report it within `timing_wait_s`, the worker's own measurement on the node is used. Energy is
the difference of NVML's total-energy counters of the worker's GPUs, read on the node.

The worker function is pickled by value: site nodes need Ray (same version) and Python, not cpnet.
Ray tasks share the fate of the process that submitted them, so a restarted cpnet cannot adopt
them (`adopt` is True only for runs this process launched); their subprocesses die with them
(PR_SET_PDEATHSIG) and the reconciler requeues the job, which resumes from its checkpoint.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray.util.placement_group import PlacementGroup, placement_group, placement_group_table, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from cpnet.core.errors import CpnetError
from cpnet.executors.base import LaunchRequest, Observation, RunStatus
from cpnet.executors.registry import register_executor

SITE_PREFIX = "cpnet_site:"
ACCEL_PREFIX = "cpnet_accel:"
SITE_SHARE = 0.001  # a bundle's share of the site marker: pins it to the site without limiting bundles
CANCEL_GRACE_S = 3.0


@dataclass(frozen=True, slots=True)
class _PoolKeys:
    """The Ray resources that hold one device of a (site, model) pool."""

    device_key: str  # counted per device: cpnet_accel:<model> or GPU
    marker_keys: tuple[str, ...]  # fractional markers: site and, for untagged GPUs, accelerator_type
    gpu: bool  # also request GPU: 1 per device so Ray assigns a CUDA device


@dataclass
class _Run:
    request: LaunchRequest
    handle: str
    pg: PlacementGroup
    placed_at: float  # time.monotonic() when the group was requested (for the gang timeout only)
    refs: list[Any] = field(default_factory=list)  # one ObjectRef per rank, once the group is ready
    results: dict[int, dict[str, Any]] = field(default_factory=dict)  # rank -> worker's result
    bad: Observation | None = None  # the first failure; the run ends when every rank is done
    cancelled: bool = False
    done_at: float | None = None
    final: Observation | None = None


@register_executor("ray")
class RayExecutor:
    """Jobs on one Ray cluster. `address`: "auto", "ray://...", host:port, or None for the cluster
    this process is already connected to (else $RAY_ADDRESS; never a new private one)."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        site: str | None = None,
        namespace: str = "cpnet",
        gang_timeout_s: float = 60.0,
        gang_strategy: str = "PACK",
        timing_wait_s: float = 10.0,
        master_port_base: int = 29500,
    ) -> None:
        if not ray.is_initialized():
            address = address or os.environ.get("RAY_ADDRESS")
            if not address:  # ray.init() would quietly start a private one-machine cluster
                raise CpnetError(
                    "ray: no cluster address; name it in a sites file (engine: ray, address: ray://head:10001) or set RAY_ADDRESS; cpnet never starts a private Ray"
                )
            ray.init(address=address, namespace=namespace, log_to_driver=False, logging_level=logging.WARNING)
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
        self.site = site
        self.gang_timeout_s = gang_timeout_s
        self.gang_strategy = gang_strategy
        self.timing_wait_s = timing_wait_s
        self.master_port_base = master_port_base
        self._runs: dict[str, _Run] = {}
        self._seen: dict[str, set[str]] = {}  # site -> models this executor has seen there
        self._worker = ray.remote(_run_rank)

    # -- inventory ---------------------------------------------------------------------------------
    def _pools(self) -> tuple[dict[str, dict[str, int]], dict[tuple[str, str], _PoolKeys]]:
        inv: dict[str, dict[str, int]] = {}
        keys: dict[tuple[str, str], _PoolKeys] = {}
        for node in ray.nodes():
            res: Mapping[str, float] = node.get("Resources") or {}
            sites = [k[len(SITE_PREFIX) :] for k in res if k.startswith(SITE_PREFIX)]
            if sites:
                site = sites[0]
                models = {k[len(ACCEL_PREFIX) :]: (k, int(v)) for k, v in res.items() if k.startswith(ACCEL_PREFIX)}
                gpu = res.get("GPU", 0) > 0
                pool_keys = {m: _PoolKeys(k, (SITE_PREFIX + site,), gpu) for m, (k, _) in models.items()}
            elif self.site is not None:
                site = self.site
                types = [k for k in res if k.startswith("accelerator_type:")]
                if not types or res.get("GPU", 0) <= 0:
                    models, pool_keys = {}, {}
                else:
                    from cpnet.executors.local import gpu_model_key

                    model = gpu_model_key(types[0].split(":", 1)[1])
                    models = {model: ("GPU", int(res["GPU"]))}
                    pool_keys = {model: _PoolKeys("GPU", (types[0],), False)}
            else:
                continue
            self._seen.setdefault(site, set()).update(models)
            counts = inv.setdefault(site, {})
            for model, (_, n) in models.items():
                counts[model] = counts.get(model, 0) + (n if node.get("Alive") else 0)
                if node.get("Alive"):
                    keys[(site, model)] = pool_keys[model]
        for site, seen_models in self._seen.items():  # a dead node's resources are gone from ray.nodes()
            for model in seen_models:
                inv.setdefault(site, {}).setdefault(model, 0)
        return inv, keys

    def inventory(self) -> Mapping[str, Mapping[str, int]]:
        return self._pools()[0]

    # -- launch ------------------------------------------------------------------------------------
    def launch(self, request: LaunchRequest) -> str:
        p = request.placement
        pool = self._pools()[1].get((p.site, p.accelerator))
        if pool is None:
            raise RuntimeError(f"no alive Ray node serves {p.accelerator} at site {p.site}")
        bundle: dict[str, float] = {pool.device_key: 1.0, **{k: SITE_SHARE for k in pool.marker_keys}}
        if pool.gpu:
            bundle["GPU"] = 1.0
        n = max(p.num_devices, 1)
        pg = placement_group([dict(bundle) for _ in range(n)], strategy=self.gang_strategy, name=f"cpnet-{request.job_id}-{request.attempt}")
        handle = f"{request.job_id}/{request.attempt}/pg:{pg.id.hex()}"
        self._runs[request.job_id] = _Run(request, handle, pg, time.monotonic())
        return handle

    def _start_ranks(self, run: _Run) -> None:
        req, p = run.request, run.request.placement
        table = placement_group_table(run.pg)
        node_of = table.get("bundles_to_node_id", {})
        ips = {n["NodeID"]: n["NodeManagerAddress"] for n in ray.nodes()}
        master = ips.get(node_of.get(0, ""), "127.0.0.1")
        port = self.master_port_base + zlib.crc32(f"{req.job_id}/{req.attempt}".encode()) % 10000
        world = len(run.pg.bundle_specs)
        uses_gpu = any("GPU" in b for b in run.pg.bundle_specs)
        log = req.log_path
        cwd = req.env.get("CPNET_WORKDIR") or (str(Path(log).parent) if log else "")
        for rank in range(world):
            env = dict(req.env)
            env.update(
                CPNET_JOB_ID=req.job_id,
                CPNET_ATTEMPT=str(req.attempt),
                CPNET_SITE=p.site,
                CPNET_ACCELERATOR=p.accelerator,
                CPNET_DEVICES=str(p.num_devices),
                CPNET_RANK=str(rank),
                CPNET_WORLD_SIZE=str(world),
                CPNET_MASTER_ADDR=master,
                CPNET_MASTER_PORT=str(port),
            )
            if req.checkpoint_dir:
                env["CPNET_CHECKPOINT_DIR"] = req.checkpoint_dir
            rank_log = log if rank == 0 or not log else f"{log}.rank{rank}"
            strategy = PlacementGroupSchedulingStrategy(run.pg, placement_group_bundle_index=rank)
            ref = self._worker.options(
                num_cpus=0,
                num_gpus=1 if uses_gpu else 0,
                max_retries=0,
                scheduling_strategy=strategy,
                resources={k: v for k, v in run.pg.bundle_specs[rank].items() if k not in ("GPU", "CPU")},
                name=f"cpnet:{req.job_id}:{req.attempt}:{rank}",
            ).remote(list(req.command), env, rank_log, cwd, req.checkpoint_dir)
            run.refs.append(ref)

    # -- observe -----------------------------------------------------------------------------------
    def observe(self) -> list[Observation]:
        out = []
        for run in self._runs.values():
            if run.final is None:
                run.final = self._poll(run)
            out.append(run.final or Observation(run.request.job_id, run.request.attempt, run.handle, RunStatus.RUNNING))
        return out

    def _obs(self, run: _Run, status: RunStatus, exit_code: int | None, reason: str, **kw: Any) -> Observation:
        return Observation(run.request.job_id, run.request.attempt, run.handle, status, exit_code, reason, **kw)

    def _poll(self, run: _Run) -> Observation | None:
        if not run.refs:
            return self._poll_placement(run)
        ready, _ = ray.wait(run.refs, num_returns=len(run.refs), timeout=0)
        for rank, ref in enumerate(run.refs):
            if rank in run.results or ref not in ready:
                continue
            run.results[rank] = self._result(ref)
            seen = self._judge(run, rank, run.results[rank])
            if seen is not None and run.bad is None:
                run.bad = seen
                for other in run.refs:  # a gang stops as a whole
                    if other is not ref:
                        ray.cancel(other, force=False)
        if len(run.results) < len(run.refs):
            return None
        if run.done_at is None:
            run.done_at = time.monotonic()
        device_s = self._device_s(run)
        if device_s is None and time.monotonic() - run.done_at < self.timing_wait_s:
            return None  # Ray's task events reach the head about a second after the task ends
        if device_s is None and all("start_s" in r for r in run.results.values()):
            device_s = sum(r["end_s"] - r["start_s"] for r in run.results.values())
        # else: a rank died with its node and no one timed it; cpnet's clock is the fallback
        energies = [r["energy_kwh"] for r in run.results.values() if r.get("energy_kwh") is not None]
        energy = sum(energies) if energies else None
        remove_placement_group(run.pg)
        if run.bad is not None:
            b = run.bad
            return self._obs(run, b.status, b.exit_code, b.reason, device_s=device_s, energy_kwh=energy)
        nodes = ",".join(sorted({r["node_id"][:12] for r in run.results.values()}))
        return self._obs(run, RunStatus.SUCCEEDED, 0, f"exit code 0 on node(s) {nodes}", device_s=device_s, energy_kwh=energy)

    def _poll_placement(self, run: _Run) -> Observation | None:
        if run.cancelled:
            remove_placement_group(run.pg)
            return self._obs(run, RunStatus.CANCELLED, None, "cancelled before its placement group was ready")
        # The group's state in the GCS; `pg.ready()` would start a worker process per poll.
        if placement_group_table(run.pg).get("state") == "CREATED":
            self._start_ranks(run)
            return None
        if time.monotonic() - run.placed_at > self.gang_timeout_s:
            remove_placement_group(run.pg)
            p = run.request.placement
            return self._obs(run, RunStatus.LOST, None, f"Ray could not reserve {p.num_devices} x {p.accelerator} at {p.site} within {self.gang_timeout_s:g} s")
        return None

    @staticmethod
    def _result(ref: Any) -> dict[str, Any]:
        try:
            return dict(ray.get(ref, timeout=10))
        except ray.exceptions.TaskCancelledError:
            return {"cancelled": True}
        except ray.exceptions.RayTaskError as exc:  # the wrapper itself broke, not the job's code
            return {"lost": f"cpnet worker error: {type(exc.cause).__name__}: {exc.cause}"}
        except ray.exceptions.RayError as exc:  # node died, worker crashed, owner gone, ...
            return {"lost": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}

    def _judge(self, run: _Run, rank: int, res: Mapping[str, Any]) -> Observation | None:
        if res.get("cancelled"):
            if run.cancelled:
                return self._obs(run, RunStatus.CANCELLED, None, "cancelled")
            return None  # a peer's failure cancelled this rank; the peer's outcome is the job's
        if "lost" in res:
            return self._obs(run, RunStatus.LOST, None, f"rank {rank}: {res['lost']}")
        code = int(res["exit_code"])
        if code != 0:
            return self._obs(run, RunStatus.FAILED, code, f"rank {rank} exited with code {code}" + (f" ({res['error']})" if res.get("error") else ""))
        return None

    def _device_s(self, run: _Run) -> float | None:
        """Sum over ranks of Ray's own RUNNING -> FINISHED/FAILED task timing (state API)."""
        try:
            from ray.util.state import get_task

            total = 0.0
            for ref in run.refs:
                task = get_task(ref.task_id().hex(), timeout=5)
                task = task[-1] if isinstance(task, list) else task
                if task is None or task.start_time_ms is None or task.end_time_ms is None:
                    return None
                total += (task.end_time_ms - task.start_time_ms) / 1000.0
            return total
        except Exception:  # no dashboard, or the head is unreachable: fall back to the node's timing
            return None

    # -- cancel / adopt / forget -------------------------------------------------------------------
    def cancel(self, job_id: str, handle: str) -> None:
        run = self._runs.get(job_id)
        if run is None or run.final is not None or run.cancelled:
            return
        run.cancelled = True
        for ref in run.refs:
            ray.cancel(ref, force=False)  # KeyboardInterrupt in the worker: it stops the job's process group

    def adopt(self, job_id: str, attempt: int, handle: str) -> bool:
        run = self._runs.get(job_id)
        return run is not None and run.request.attempt == attempt

    def forget(self, job_id: str) -> None:
        run = self._runs.pop(job_id, None)
        if run is not None and run.final is None:
            for ref in run.refs:
                ray.cancel(ref, force=True)
            remove_placement_group(run.pg)


# -- runs on the site's node; stdlib only (pickled by value, cpnet need not be installed there) -----
def _run_rank(command: list[str], env: dict[str, str], log_path: str, cwd: str, checkpoint_dir: str) -> dict[str, Any]:
    """Run one rank of a job to completion; return its exit code, node and timing."""
    import contextlib
    import os
    import signal
    import subprocess

    # ray.cancel interrupts the task with SIGINT: a worker that inherited SIGINT ignored (a node
    # started from a background shell or a service manager) would never see it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    node_id = ray.get_runtime_context().get_node_id()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CPNET_")}
    full_env.update(env, CPNET_NODE_ID=node_id)
    gpus = [int(g) for g in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip().isdigit()]
    if checkpoint_dir:
        os.makedirs(checkpoint_dir, exist_ok=True)
    if log_path:
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    if cwd:
        os.makedirs(cwd, exist_ok=True)
    energy0 = _nvml_energy_mj(gpus)
    start_s = time.time()
    # The child holds its own copy of the log descriptor: ours is closed once it is spawned.
    with open(log_path, "ab") if log_path else contextlib.nullcontext(subprocess.DEVNULL) as log:
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=cwd or None,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:  # command not found / not executable: the job's own error
            return {"exit_code": 127, "error": str(exc), "node_id": node_id, "start_s": start_s, "end_s": time.time()}
    try:
        # ray.cancel raises KeyboardInterrupt through the interpreter's pending-signal flag, which a
        # blocking waitpid would never look at: poll instead.
        while (code := proc.poll()) is None:
            time.sleep(0.2)
    except BaseException:  # cancelled: stop the job gracefully, then surely
        _stop_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=CANCEL_GRACE_S)
        except subprocess.TimeoutExpired:
            pass
        _stop_group(proc, signal.SIGKILL)
        raise
    _stop_group(proc, signal.SIGKILL)  # stragglers left in the job's process group
    end_s = time.time()
    energy1 = _nvml_energy_mj(gpus)
    energy = (energy1 - energy0) / 3.6e9 if energy0 is not None and energy1 is not None else None
    code = code if code >= 0 else 128 - code
    return {"exit_code": code, "node_id": node_id, "start_s": start_s, "end_s": end_s, "energy_kwh": energy}


def _stop_group(proc: Any, sig: int) -> None:
    import os

    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the Ray worker dies (e.g. with its node)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _nvml_energy_mj(gpus: list[int]) -> float | None:
    """Sum of NVML total-energy counters (mJ since driver load) of `gpus`; None without NVML."""
    import ctypes

    if not gpus:
        return None
    try:
        nvml = ctypes.CDLL("libnvidia-ml.so.1")
        if nvml.nvmlInit_v2() != 0:
            return None
        total = 0
        for index in gpus:
            dev = ctypes.c_void_p()
            mj = ctypes.c_ulonglong()
            if nvml.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(dev)) != 0:
                return None
            if nvml.nvmlDeviceGetTotalEnergyConsumption(dev, ctypes.byref(mj)) != 0:
                return None
            total += mj.value
        nvml.nvmlShutdown()
        return float(total)
    except (OSError, AttributeError):
        return None
