"""Invalid job specs: 422 naming the field, and nothing stored."""

from __future__ import annotations

import pytest

from live_server import Server

BAD_SPECS = [
    ({"command": ["true"], "accelerator": "NoSuchGPU"}, "accelerator"),
    ({"command": ["true"], "devices": 0}, "devices"),
    ({"command": ["true"], "devices": -3}, "devices"),
    ({"command": []}, "command"),
    ({"command": [""]}, "command"),
    ({}, "command"),
    ({"command": ["x" * 5000]}, "command"),
    ({"command": ["true"] * 300}, "command"),
    ({"command": ["true"], "idempotency_key": "k" * 200}, "idempotency_key"),
    ({"command": ["true"], "env": {"CPNET_JOB_ID": "spoof"}}, "env"),
    ({"command": ["true"], "env": {f"V{i}": "x" for i in range(100)}}, "env"),
    ({"command": ["true"], "job_type": "NoSuchModel (batch size 1)"}, "job_type"),
    ({"command": ["true"], "priority_weight": 0}, "priority_weight"),
    ({"command": ["true"], "unexpected": 1}, "unexpected"),
    ({"command": "true"}, "command"),
]


@pytest.mark.parametrize(("body", "field"), BAD_SPECS)
def test_invalid_spec_is_422_naming_the_field(server: Server, body: dict, field: str) -> None:
    c = server.client(server.tenant(f"val-{abs(hash((str(body), field))) % 10**9}"))
    r = c.post("/v1/jobs", json=body)
    assert r.status_code == 422
    assert r.json()["error"].startswith(field) or f"{field}:" in r.json()["error"] or f"{field}." in r.json()["error"]
    assert any(field in [str(x) for x in d["loc"]] for d in r.json()["detail"])
    assert c.get("/v1/jobs").json()["jobs"] == []
