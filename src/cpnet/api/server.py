"""Assemble a running service: store (migrated), executor, reconciler loop, FastAPI app, uvicorn."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from cpnet.api.app import Services, create_app
from cpnet.api.limits import LIMITS_ENV, Limits
from cpnet.control.data_home import default_data_dir
from cpnet.control.loop import ReconcilerLoop, WallClock
from cpnet.control.reconciler import Reconciler, ReconcilerConfig
from cpnet.control.store.store import Store, default_sqlite_url
from cpnet.control.throughput import known_models, load_catalog_or_empty, load_control_throughput
from cpnet.core.clock import Clock
from cpnet.core.energy import EnergySignals
from cpnet.core.model import Link
from cpnet.core.tariff import Tariff
from cpnet.executors.registry import make_executor
from cpnet.sched.runner import SchedulerConfig

log = logging.getLogger("cpnet.api")
WORKER_SPEC_ENV = "CPNET_WORKER_SPEC"


def load_scenario_into(store: Store, name_or_path: str, now_s: float) -> tuple[tuple[Link, ...], EnergySignals | None, Tariff | None]:
    """Write a scenario's sites (all accelerators emulated: they are not this machine) and tenants;
    return its network (`scenario_network`)."""
    from cpnet.scenario import load_scenario

    scenario = load_scenario(name_or_path)
    for site in scenario.sites:
        store.upsert_site(replace(site, emulated=frozenset(site.inventory)), "scenario", now_s)
    have, tree = store.tenant_tree(), scenario.tenant_tree
    for node_id in (i for root in tree.roots() for i in tree.descendants(root)):  # parents before their members
        if node_id not in have:
            store.create_node(replace(tree.node(node_id), home_site=None), now_s)
    return scenario_network(scenario)


def scenario_network(scenario: Any) -> tuple[tuple[Link, ...], EnergySignals | None, Tariff | None]:
    """A scenario's links (declared and distance-derived), its energy series on the wall clock, and its compute tariff."""
    energy = scenario.energy
    # The live clock is Unix time already: the series apply at their own timestamps (epoch 0).
    return scenario.network_links(), (None if energy is None else replace(energy, epoch_s=0.0)), scenario.compute_tariff


def build_service(
    *,
    db: str | None = None,
    data_dir: str | None = None,
    executor: str = "local",
    policy: str = "fifo",
    policy_params: Mapping[str, Any] | None = None,
    scenario: str | None = None,
    interval_s: float = 0.5,
    reconcile: bool = True,
    clock: Clock | None = None,
    executor_config: Mapping[str, Any] | None = None,
    limits: Limits | None = None,
) -> tuple[FastAPI, Reconciler, ReconcilerLoop]:
    """The app, its reconciler and the loop that drives it (started by the app's lifespan when
    `reconcile`; a multi-process server starts it itself in the leader)."""
    clock = clock or WallClock()
    data = Path(data_dir or default_data_dir()).expanduser().resolve()
    data.mkdir(parents=True, exist_ok=True)
    os.chmod(data, 0o711)  # job users may pass through to their workspaces (DATA_DIR/jobs), nothing else
    store = Store(db or default_sqlite_url(data))
    store.migrate()
    _restrict_sqlite_files(store)
    catalog = load_catalog_or_empty()
    throughput = load_control_throughput(catalog)
    links, energy, tariff = load_scenario_into(store, scenario, clock.now()) if scenario else ((), None, None)
    run_dir = data / "runs"
    config = dict(executor_config or {})
    if executor == "local":
        config.setdefault("run_dir", str(run_dir))
    elif executor == "sites":
        config["local"] = {"run_dir": str(run_dir), **dict(config.get("local") or {})}
    elif executor == "simulated":
        config.setdefault("clock", clock)
        config.setdefault("throughput", throughput)
        config.setdefault("inventory", {"local": {"CPU": 4}})
    ex = make_executor(executor, **config)
    serve_tenants = getattr(ex, "serve_tenants", None)
    if serve_tenants is not None:  # e.g. a local executor without root refuses a second tenant
        serve_tenants(store.tenants())
    rec_config = ReconcilerConfig(scheduler=SchedulerConfig(policy, dict(policy_params or {})), run_dir=str(run_dir), tariff=tariff)
    for site in getattr(ex, "sites", list)():  # a sites file describes its sites (tier, place, energy); engines report inventory
        store.upsert_site(site, "executor", clock.now(), rec_config.site_timeout_s)
    reconciler = Reconciler(store, ex, clock, rec_config, throughput=throughput, catalog=catalog, links=links, energy=energy)
    from cpnet.api.prom import observe_step

    loop = ReconcilerLoop(reconciler, interval_s, on_step=observe_step)
    models = known_models(catalog) | {m for r in store.list_sites() for m in r.site.inventory} | {m for inv in ex.inventory().values() for m in inv}
    services = Services(
        store,
        clock,
        run_dir,
        frozenset(models),
        throughput,
        catalog,
        limits=limits or Limits(),
        local_workdirs=executor == "local",
        on_start=loop.start if reconcile else None,
        on_stop=loop.stop if reconcile else None,
        links=links,
        energy=energy,
        scenario=scenario,
        tariff=reconciler.tariff,
    )
    return create_app(services), reconciler, loop


def _restrict_sqlite_files(store: Store) -> None:
    """The database (and its WAL) readable by the server's user only, also when made by an older version."""
    if not store.sqlite:
        return
    path = store.engine.url.database
    for suffix in ("", "-wal", "-shm"):
        if path and os.path.exists(path + suffix):
            os.chmod(path + suffix, 0o600)


def build_worker_app(
    db: str, run_dir: str, models: frozenset[str], limits: Limits | None = None, local_workdirs: bool = False, scenario: str | None = None
) -> FastAPI:
    """A stateless API worker: the store (already migrated by the leader), no executor, no reconciler.

    Its limits are the leader's (`run_multiprocess` puts them in $CPNET_API_LIMITS) unless given;
    the leader's scenario (if any) gives it the network's links and energy series again."""
    if limits is None:
        text = os.environ.get(LIMITS_ENV)
        limits = Limits.from_json(text) if text else Limits()
    catalog = load_catalog_or_empty()
    links: tuple[Link, ...] = ()
    energy = tariff = None
    if scenario is not None:
        from cpnet.scenario import load_scenario

        links, energy, tariff = scenario_network(load_scenario(scenario))
    services = Services(
        Store(db),
        WallClock(),
        Path(run_dir),
        models,
        load_control_throughput(catalog),
        catalog,
        limits=limits,
        local_workdirs=local_workdirs,
        links=links,
        energy=energy,
        scenario=scenario,
        tariff=tariff,
    )
    return create_app(services)


def _uvicorn_config(app: FastAPI, **kw: Any) -> Any:
    import uvicorn

    # uvloop/httptools are used when installed (pinned in pyproject); uvicorn falls back otherwise.
    # The transport limits (cpnet.api.limits) are enforced by our subclass of uvicorn's httptools
    # protocol; on h11 only the header size (as a 400) and the keep-alive timeout apply.
    limits: Limits = app.state.services.limits
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http: Any = "h11"
    if importlib.util.find_spec("httptools"):
        from cpnet.api.http_protocol import protocol_class

        http = protocol_class(limits)
    else:
        log.warning("httptools is not installed: header and body deadlines are not enforced")
    return uvicorn.Config(
        app,
        loop=loop,
        http=http,
        log_level="warning",
        access_log=False,
        h11_max_incomplete_event_size=limits.max_header_bytes,
        timeout_keep_alive=limits.keepalive_timeout_s,  # type: ignore[arg-type]
        timeout_graceful_shutdown=limits.shutdown_grace_s,  # type: ignore[arg-type]
        **kw,
    )


def _metrics_dir(app: FastAPI) -> None:
    """`cpnet serve`'s event metrics go to DATA_DIR/metrics, shared with its workers (cpnet.api.prom)."""
    from cpnet.api.prom import use_multiprocess_dir

    services: Services = app.state.services
    use_multiprocess_dir(services.run_dir.parent / "metrics")


def run_server(app: FastAPI, host: str, port: int, workers_note: str = "") -> None:
    import uvicorn

    _metrics_dir(app)
    uvicorn.Server(_uvicorn_config(app, host=host, port=port)).run()


def run_worker(app: FastAPI, fd: int) -> None:
    """Serve on a listening socket inherited from the leader (every worker accepts on it)."""
    import uvicorn

    sock = socket.socket(fileno=fd)
    uvicorn.Server(_uvicorn_config(app, lifespan="on")).run(sockets=[sock])


def run_multiprocess(app: FastAPI, loop: ReconcilerLoop | None, host: str, port: int, workers: int) -> None:
    """The leader: runs the reconciler (the only process that decides and launches) and supervises
    `workers` stateless API processes that share one listening socket.

    The API workers and the reconciler no longer share a GIL. Workers die with the leader
    (PR_SET_PDEATHSIG, and a parent check as a fallback), so a `kill -9` of `cpnet serve` takes the
    whole service down and a restart binds the port again. A worker that exits is started again.
    """
    services: Services = app.state.services
    _metrics_dir(app)  # before the workers start: they inherit $PROMETHEUS_MULTIPROC_DIR
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    # The workers enforce the leader's limits (inherited with the environment, not the command line);
    # the queued-job check allows for the other workers' submissions.
    os.environ[LIMITS_ENV] = replace(services.limits, api_processes=workers).to_json()
    spec = json.dumps(
        {
            "db": services.store.url,
            "run_dir": str(services.run_dir),
            "models": sorted(services.known_models),
            "local_workdirs": services.local_workdirs,
            "scenario": services.scenario,
            "fd": sock.fileno(),
            "leader_pid": os.getpid(),
        }
    )

    def spawn() -> subprocess.Popen[bytes]:
        # The spec (the database URL, perhaps with a password) goes in the environment, which only
        # this user can read; a command line is visible to every local user.
        return subprocess.Popen([sys.executable, "-m", "cpnet.api.worker"], pass_fds=(sock.fileno(),), env={**os.environ, WORKER_SPEC_ENV: spec})

    stopping = threading.Event()

    def _stop(_sig: int, _frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    procs = [spawn() for _ in range(workers)]
    if loop is not None:
        loop.start()
    try:
        while not stopping.wait(0.5):
            for i, proc in enumerate(procs):
                if proc.poll() is not None:
                    log.warning("API worker %d exited with %s; starting it again", proc.pid, proc.returncode)
                    procs[i] = spawn()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if loop is not None:
            loop.stop()
        sock.close()
