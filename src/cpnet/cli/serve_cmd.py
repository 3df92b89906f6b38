"""`cpnet serve`: the control plane (REST API + reconciler) under uvicorn."""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from typing import Annotated

import typer

from cpnet.api.limits import Limits
from cpnet.cli.db_option import DbFileOpt, DbOpt, db_url
from cpnet.cli.params import parse_params
from cpnet.core.errors import CpnetError, InputError

_LIMITS = Limits()  # the defaults


class LogFormat(StrEnum):
    text = "text"
    json = "json"


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def _pair(option: str, text: str) -> tuple[str, str]:
    k, sep, v = text.partition("=")
    if not sep or not k or not v:
        raise InputError(option, f"'{text}' is not KEY=VALUE")
    return k, v


def serve(
    db: DbOpt = None,
    db_url_file: DbFileOpt = None,
    data_dir: Annotated[
        str | None, typer.Option(help="where the SQLite file, job logs and checkpoints live (default $CPNET_HOME, else ~/.local/share/cpnet)")
    ] = None,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8080,
    executor: Annotated[str, typer.Option(help="local (processes on this machine), simulated, or an engine (ray, slurm)")] = "local",
    sites: Annotated[
        str | None,
        typer.Option(
            help="a sites file: each site with its engine (local, ray, slurm) and the engine's settings; one server drives them all (replaces --executor)"
        ),
    ] = None,
    policy: Annotated[str, typer.Option(help="scheduling policy, as for `cpnet simulate`")] = "fifo",
    policy_param: Annotated[list[str], typer.Option(help="policy parameter KEY=VALUE (repeatable)")] = [],  # noqa: B006
    scenario: Annotated[str | None, typer.Option(help="load this scenario's sites (emulated) and tenants")] = None,
    interval_s: Annotated[float, typer.Option(help="reconciler period")] = 0.5,
    no_reconcile: Annotated[bool, typer.Option("--no-reconcile", help="API only; no jobs are started")] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=0,
            max=64,
            help="0: API and reconciler in this one process. N>=1: this process runs the reconciler only (the leader) and supervises N API worker processes sharing the port",
        ),
    ] = 0,
    job_root: Annotated[
        str | None, typer.Option(help="local executor: where each job gets its private workspace (default DATA_DIR/jobs); job users must be able to reach it")
    ] = None,
    tenant_user: Annotated[
        list[str],
        typer.Option(help="local executor: run TENANT's jobs as the existing USER, as TENANT=USER (repeatable); other tenants get a cpnet-<hash> system user"),
    ] = [],  # noqa: B006
    insecure_shared_user: Annotated[
        bool,
        typer.Option(
            "--insecure-shared-user",
            help="local executor without root: run every tenant's jobs as this server's user. Jobs can then read each other's files and the database: only for a machine where every tenant is trusted",
        ),
    ] = False,
    submit_rate: Annotated[
        float, typer.Option(min=0, help="limit: job submissions per second per tenant (token bucket, per API process); 0: no limit", rich_help_panel="Limits")
    ] = _LIMITS.submit_rate_per_s,
    submit_burst: Annotated[
        int, typer.Option(min=1, help="limit: submissions a tenant may make at once above the rate", rich_help_panel="Limits")
    ] = _LIMITS.submit_burst,
    max_queued_jobs: Annotated[
        int, typer.Option(min=0, help="limit: pending+scheduled+running jobs per tenant; 0: no limit", rich_help_panel="Limits")
    ] = _LIMITS.max_queued_jobs,
    header_timeout_s: Annotated[
        float, typer.Option(min=0.1, help="limit: seconds a client may take to send a request's headers", rich_help_panel="Limits")
    ] = _LIMITS.header_timeout_s,
    body_timeout_s: Annotated[
        float, typer.Option(min=0.1, help="limit: seconds a client may take to send a request's body", rich_help_panel="Limits")
    ] = _LIMITS.body_timeout_s,
    keepalive_timeout_s: Annotated[
        float, typer.Option(min=0.1, help="limit: seconds an idle keep-alive connection stays open", rich_help_panel="Limits")
    ] = _LIMITS.keepalive_timeout_s,
    list_page_bytes: Annotated[
        int, typer.Option(min=1024, help="limit: a list page stops at about this many bytes of JSON", rich_help_panel="Limits")
    ] = _LIMITS.list_page_bytes,
    log_format: Annotated[
        LogFormat, typer.Option(help="stderr log: text, or json (one object per line, for a log shipper)", rich_help_panel="Logging")
    ] = LogFormat.text,
    log_level: Annotated[
        LogLevel, typer.Option(help="info logs each request and scheduling decision; warning only problems", rich_help_panel="Logging")
    ] = LogLevel.info,
) -> None:
    """Start the REST API (OpenAPI at /docs) and the reconciler that runs submitted jobs."""
    import os

    from cpnet.api.server import build_service, run_multiprocess, run_server
    from cpnet.control.data_home import default_data_dir

    _check_port_free(host, port)
    from cpnet.api import server_log

    server_log.configure(log_format.value, log_level.value)
    os.umask(0o077)  # the store, logs and run files are the server user's alone (0600 / 0700)
    if sites is not None and executor != "local":
        raise CpnetError("--sites names each site's engine: drop --executor")
    local_config: dict[str, object] = {"isolation": "shared" if insecure_shared_user else "auto"}
    if job_root:
        local_config["job_root"] = job_root
    if tenant_user:
        local_config["tenant_users"] = dict(_pair("--tenant-user", p) for p in tenant_user)
    executor_config: dict[str, object] = {}
    if sites is not None:
        executor, executor_config = "sites", {"path": sites, "local": local_config}
    elif executor == "local":
        executor_config = local_config
    limits = replace(
        _LIMITS,
        submit_rate_per_s=submit_rate,
        submit_burst=submit_burst,
        max_queued_jobs=max_queued_jobs,
        header_timeout_s=header_timeout_s,
        body_timeout_s=body_timeout_s,
        keepalive_timeout_s=keepalive_timeout_s,
        list_page_bytes=list_page_bytes,
    )
    app, _, loop = build_service(
        db=db_url(db, db_url_file),
        data_dir=data_dir or default_data_dir(),
        executor=executor,
        policy=policy,
        policy_params=parse_params(policy_param),
        scenario=scenario,
        interval_s=interval_s,
        reconcile=not no_reconcile and workers == 0,
        executor_config=executor_config,
        limits=limits,
    )
    where = "in this process" if workers == 0 else f"{workers} API worker process{'es' if workers > 1 else ''} + the reconciler here"
    typer.echo(f"cpnet control plane on http://{host}:{port} (docs at /docs), executor {executor}, policy {policy}, {where}", err=True)
    if workers == 0:
        run_server(app, host, port)
    else:
        run_multiprocess(app, None if no_reconcile else loop, host, port, workers)


def _check_port_free(host: str, port: int) -> None:
    """Refuse before anything starts (and before the banner) when the address is taken."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise CpnetError(f"--host {host}: cannot resolve it ({exc.strerror or exc})") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a TIME_WAIT leftover is not "in use"
        try:
            probe.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CpnetError(f"port {port} on {host} is already in use (another cpnet serve?); pick another with --port") from None
            raise CpnetError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
