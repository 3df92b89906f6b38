"""`cpnet serve`: the control plane (REST API + reconciler) under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from cpnet.core.errors import InputError


def parse_params(pairs: list[str]) -> dict[str, object]:
    import yaml

    out: dict[str, object] = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise InputError("--policy-param", f"'{p}' is not KEY=VALUE")
        out[k] = yaml.safe_load(v)
    return out


def serve(
    db: Annotated[str | None, typer.Option(help="SQLAlchemy URL; default sqlite:///DATA_DIR/cpnet.db. postgresql+psycopg://... works the same")] = None,
    data_dir: Annotated[str, typer.Option(help="where the SQLite file, job logs and checkpoints live")] = ".cpnet",
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8080,
    executor: Annotated[str, typer.Option(help="local (processes on this machine), simulated, or an engine (ray, slurm)")] = "local",
    policy: Annotated[str, typer.Option(help="scheduling policy, as for `cpnet simulate`")] = "fifo",
    policy_param: Annotated[list[str], typer.Option(help="policy parameter KEY=VALUE (repeatable)")] = [],  # noqa: B006
    scenario: Annotated[str | None, typer.Option(help="load this scenario's sites (emulated) and tenants")] = None,
    interval_s: Annotated[float, typer.Option(help="reconciler period")] = 0.5,
    no_reconcile: Annotated[bool, typer.Option("--no-reconcile", help="API only; no jobs are started")] = False,
    workers: Annotated[int, typer.Option(min=0, max=64, help="0: API and reconciler in this one process. N>=1: this process runs the reconciler only (the leader) and supervises N API worker processes sharing the port")] = 0,
) -> None:
    """Start the REST API (OpenAPI at /docs) and the reconciler that runs submitted jobs."""
    from cpnet.api.server import build_service, run_multiprocess, run_server

    app, _, loop = build_service(db=db, data_dir=data_dir, executor=executor, policy=policy, policy_params=parse_params(policy_param),
                                 scenario=scenario, interval_s=interval_s, reconcile=not no_reconcile and workers == 0)
    where = "in this process" if workers == 0 else f"{workers} API worker process{'es' if workers > 1 else ''} + the reconciler here"
    typer.echo(f"cpnet control plane on http://{host}:{port} (docs at /docs), executor {executor}, policy {policy}, {where}", err=True)
    if workers == 0:
        run_server(app, host, port)
    else:
        run_multiprocess(app, None if no_reconcile else loop, host, port, workers)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
