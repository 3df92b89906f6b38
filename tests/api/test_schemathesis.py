"""A bounded schemathesis run over the live OpenAPI document (issue 7): every operation, with a
tenant token, with the admin token and without a token, positive and negative inputs, a fixed seed
(hypothesis `derandomize`). The server must
never answer 5xx, and every answer must be one the document promises (status code, content type,
body schema).

One real `cpnet serve` on SQLite with the simulated executor (generated argv is never run). Path
parameters are tried as generated and as an existing job / site, so the success answers are checked
too, not only the 404s. Runtime: about a minute on 2 cores (MAX_EXAMPLES cases per operation and mode).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cpnet.control.reconciler import job_log_path
from live_server import Server, free_port

pytestmark = [pytest.mark.schemathesis, pytest.mark.timeout(600)]

MAX_EXAMPLES = 75
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance, response_headers_conformance]


class Live:
    def __init__(self, srv: Server) -> None:
        self.srv = srv
        self.admin = srv.admin_token()
        self.tenant = srv.tenant("fuzz")
        c = srv.client(self.tenant)
        self.job = c.post("/v1/jobs", json={"command": ["true"], "idempotency_key": "seed"}).json()["id"]
        a = srv.client(self.admin)
        a.post("/v1/sites", json={"id": "fuzz-site", "inventory": {"CPU": 2}}).raise_for_status()
        self.site = "fuzz-site"
        log = job_log_path(srv.data_dir / "runs", self.job)  # so GET .../logs has bytes to page through
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_bytes(b"hello\n" * 100)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data: Path = tmp_path_factory.mktemp("schemathesis")
    port = free_port()
    srv = Server(f"http://127.0.0.1:{port}", f"sqlite:///{data / 'cpnet.db'}", data, port)
    srv.start("--executor", "simulated")
    try:
        yield Live(srv)
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def api_schema(live: Live) -> Any:
    schema = schemathesis.openapi.from_url(f"{live.srv.url}/openapi.json")
    schema.config.update(base_url=live.srv.url)
    return schema


def _run_operation(op: Any, mode: schemathesis.GenerationMode, live: Live, failures: list[str]) -> int:
    """MAX_EXAMPLES generated cases of one operation; each sent with both tokens (and with the
    seeded job / site as path parameter). Records the first failure of the operation, with a curl
    command that reproduces it, instead of shrinking it. Returns the number of requests sent."""
    sent = 0

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        nonlocal sent
        if len(failures) > 50 or any(f.startswith(f"{op.label} ") for f in failures):
            return
        generated = dict(case.path_parameters or {})
        variants = [generated]
        if "job_id" in generated:
            variants.append({**generated, "job_id": live.job})
        if "site_id" in generated:
            variants.append({**generated, "site_id": live.site})
        for i, params in enumerate(variants):
            roles = [("tenant", live.tenant), ("admin", live.admin)] + ([("no token", None)] if i == 0 else [])
            for role, token in roles:
                if case.path_parameters is not None:
                    case.path_parameters.clear()
                    case.path_parameters.update(params)
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                try:
                    sent += 1
                    case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)
                except (Exception, BaseExceptionGroup) as exc:  # the checks' FailureGroup, or a transport error
                    failures.append(f"{op.label} [{mode.value}, {role}]: {exc}\n  reproduce: {case.as_curl_command(headers=headers)}")
                    return

    try:
        run()
    except Unsatisfiable:  # nothing to negate (no parameters, no body): the positive run covers it
        assert mode is schemathesis.GenerationMode.NEGATIVE, op.label
    return sent


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_api_conforms_to_its_openapi(api_schema: Any, live: Live, mode: schemathesis.GenerationMode) -> None:
    failures: list[str] = []
    operations = 0
    sent = 0
    for result in api_schema.get_all_operations():
        op = result.ok()
        operations += 1
        sent += _run_operation(op, mode, live, failures)
    assert operations >= 14
    assert sent >= operations * MAX_EXAMPLES // 4  # the run did send requests
    print(f"schemathesis {mode.value}: {operations} operations, {sent} requests, {len(failures)} failing")
    assert not failures, f"{len(failures)} operation(s) failed:\n" + "\n".join(failures)


def test_server_survived(live: Live) -> None:
    """After the run: still up, and the seeded job still answers."""
    assert httpx.get(f"{live.srv.url}/healthz", timeout=5).status_code == 200
    assert live.srv.client(live.tenant).get(f"/v1/jobs/{live.job}").status_code == 200
    assert live.srv.proc is not None and live.srv.proc.poll() is None
