"""Assemble a running service: store (migrated), executor, reconciler loop, FastAPI app, uvicorn."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from cpnet.api.app import Services, create_app
from cpnet.control.loop import ReconcilerLoop, WallClock
from cpnet.control.reconciler import Reconciler, ReconcilerConfig
from cpnet.control.store.store import Store, default_sqlite_url
from cpnet.control.throughput import known_models, load_catalog_or_empty, load_control_throughput
from cpnet.core.clock import Clock
from cpnet.core.model import Link
from cpnet.executors.registry import make_executor
from cpnet.sched.runner import SchedulerConfig


def load_scenario_into(store: Store, name_or_path: str, now_s: float) -> tuple[Link, ...]:
    """Write a scenario's sites (all accelerators emulated: they are not this machine) and tenants."""
    from cpnet.scenario import load_scenario

    scenario = load_scenario(name_or_path)
    for site in scenario.sites:
        store.upsert_site(replace(site, emulated=frozenset(site.inventory)), "scenario", now_s)
    have = store.tenants()
    tenants: Any = scenario.tenants
    for t in tenants.values() if isinstance(tenants, Mapping) else tenants:
        if t.id not in have:
            store.create_tenant(t.id, t.weight, now_s)
    return tuple(scenario.links)


def build_app(
    *, db: str | None = None, data_dir: str = ".cpnet", executor: str = "local", policy: str = "fifo",
    policy_params: Mapping[str, Any] | None = None, scenario: str | None = None, interval_s: float = 0.5,
    reconcile: bool = True, clock: Clock | None = None, executor_config: Mapping[str, Any] | None = None,
) -> tuple[FastAPI, Reconciler]:
    clock = clock or WallClock()
    data = Path(data_dir).expanduser().resolve()
    store = Store(db or default_sqlite_url(data))
    store.migrate()
    catalog = load_catalog_or_empty()
    throughput = load_control_throughput(catalog)
    links = load_scenario_into(store, scenario, clock.now()) if scenario else ()
    run_dir = data / "runs"
    config = dict(executor_config or {})
    if executor == "local":
        config.setdefault("run_dir", str(run_dir))
    elif executor == "simulated":
        config.setdefault("clock", clock)
        config.setdefault("throughput", throughput)
        config.setdefault("inventory", {"local": {"CPU": 4}})
    ex = make_executor(executor, **config)
    rec_config = ReconcilerConfig(scheduler=SchedulerConfig(policy, dict(policy_params or {})), run_dir=str(run_dir))
    reconciler = Reconciler(store, ex, clock, rec_config, throughput=throughput, catalog=catalog, links=links)
    loop = ReconcilerLoop(reconciler, interval_s)
    models = known_models(catalog) | {m for r in store.list_sites() for m in r.site.inventory} | {m for inv in ex.inventory().values() for m in inv}
    services = Services(store, clock, run_dir, frozenset(models), throughput, catalog,
                        on_start=loop.start if reconcile else None, on_stop=loop.stop if reconcile else None)
    return create_app(services), reconciler


def run_server(app: FastAPI, host: str, port: int, workers_note: str = "") -> None:
    import uvicorn

    # uvloop/httptools are used when installed (pinned in pyproject); uvicorn falls back otherwise.
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    uvicorn.run(app, host=host, port=port, loop=loop, http=http, log_level="warning", access_log=False)
