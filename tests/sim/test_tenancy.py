"""Fitting traces to scenarios: the tenant rule, data fields, deadlines, and the dataset table."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from cpnet.core.model import JobSpec, Tenant
from cpnet.sched.seeded import pick
from cpnet.sim.traces import GAVEL_JOB_TYPES, assign_tenants, dataset_for, dataset_gb, with_slack
from cpnet.sim.traces.datasets import DATASETS, DEFAULT_DATASET_GB, job_family

TENANTS = {
    "research": Tenant("research", 1.0, home_site="east"),
    "industry": Tenant("industry", 2.0, home_site="west"),
    "public": Tenant("public", 1.0),  # no home site
}
USERS = [f"vc{k}" for k in range(40)]


def job(i: int, user: str, **kw: object) -> JobSpec:
    base = JobSpec(id=f"j{i}", tenant=user, job_type="ResNet-50 (batch size 64)", num_devices=1, total_steps=100.0, arrival_s=float(i))
    return replace(base, **kw)  # type: ignore[arg-type]


def trace(n: int = 200) -> list[JobSpec]:
    return [job(i, USERS[i % len(USERS)], extra={"duration_s": repr(100.0 + i)}) for i in range(n)]


def mapping(jobs: list[JobSpec]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for j in jobs:
        out.setdefault(j.extra["trace_user"], set()).add(j.tenant)
    return out


# --- assign_tenants ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 7, 2**31])
def test_each_user_goes_to_one_scenario_tenant_by_the_documented_rule(seed: int) -> None:
    out = list(assign_tenants(trace(), TENANTS, seed))
    ids = sorted(TENANTS)
    for user, tenants in mapping(out).items():
        assert tenants == {ids[pick(seed, "tenant:" + user, len(ids))]}, user
    assert all(j.tenant in TENANTS for j in out)


def test_mapping_is_independent_of_job_order() -> None:
    jobs = trace()
    forward = {j.id: j.tenant for j in assign_tenants(jobs, TENANTS, 3)}
    backward = {j.id: j.tenant for j in assign_tenants(reversed(jobs), TENANTS, 3)}
    assert forward == backward


def test_same_seed_same_mapping_and_seeds_differ() -> None:
    a = [j.tenant for j in assign_tenants(trace(), TENANTS, 0)]
    assert a == [j.tenant for j in assign_tenants(trace(), TENANTS, 0)]
    assert any(a != [j.tenant for j in assign_tenants(trace(), TENANTS, s)] for s in range(1, 5))


def test_forty_users_use_every_tenant() -> None:
    assert {j.tenant for j in assign_tenants(trace(), TENANTS, 0)} == set(TENANTS)


@pytest.mark.parametrize(
    ("given", "expected_tenant", "expected_site", "expected_gb"),
    [
        # a scenario tenant keeps itself; data_site from its home site, data_gb from the job type
        (dict(tenant="research"), "research", "east", 144.3),
        (dict(tenant="industry"), "industry", "west", 144.3),
        (dict(tenant="public"), "public", None, 144.3),  # tenant without a home site
        # the trace's own data fields win
        (dict(tenant="research", data_site="edge-7"), "research", "edge-7", 144.3),
        (dict(tenant="research", data_gb=2.5), "research", "east", 2.5),
        (dict(tenant="research", job_type="A3C"), "research", "east", 0.0),  # A3C reads no dataset
        (dict(tenant="research", job_type="LM (batch size 20)"), "research", "east", 0.0133),
        (dict(tenant="research", job_type="never-heard-of-it"), "research", "east", DEFAULT_DATASET_GB),
    ],
)
def test_data_fields(given: dict[str, object], expected_tenant: str, expected_site: str | None, expected_gb: float) -> None:
    (out,) = assign_tenants([job(0, "x", **given)], TENANTS, 0)
    assert (out.tenant, out.data_site, out.data_gb) == (expected_tenant, expected_site, expected_gb)
    assert out.extra["trace_user"] == given["tenant"]


def test_mapped_user_gets_its_tenants_home_site_and_keeps_extra() -> None:
    for out in assign_tenants(trace(), TENANTS, 5):
        assert out.data_site == TENANTS[out.tenant].home_site
        assert out.extra["duration_s"] and out.extra["trace_user"].startswith("vc")


def test_no_tenants_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        list(assign_tenants(trace(), {}, 0))


# --- with_slack ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fraction", "low", "high"),
    [(0.0, 0, 0), (1.0, 1000, 1000), (0.5, 430, 570), (0.1, 60, 140)],
)
def test_with_slack_fraction(fraction: float, low: int, high: int) -> None:
    jobs = trace(1000)
    out = list(with_slack(jobs, 3600.0, fraction, seed=0))
    chosen = [j for j in out if j.deadline_s is not None]
    assert low <= len(chosen) <= high
    for j in chosen:
        assert j.deadline_s == j.arrival_s + float(j.extra["duration_s"]) + 3600.0
    assert [j.id for j in out] == [j.id for j in jobs]


def test_with_slack_is_seeded_and_order_independent() -> None:
    jobs = trace(500)

    def chosen(seq: list[JobSpec], seed: int) -> set[str]:
        return {j.id for j in with_slack(seq, 0.0, 0.3, seed) if j.deadline_s is not None}

    assert chosen(jobs, 1) == chosen(list(reversed(jobs)), 1)
    assert chosen(jobs, 1) != chosen(jobs, 2)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (dict(), None),  # no duration in the trace: skipped
        (dict(extra={"duration_s": "50.0"}, deadline_s=7.0), 7.0),  # an existing deadline is kept
        (dict(extra={"duration_s": "50.0"}), 0.0 + 50.0 + 10.0),
    ],
)
def test_with_slack_skips(given: dict[str, object], expected: float | None) -> None:
    (out,) = with_slack([job(0, "u", **given)], 10.0, 1.0, 0)
    assert out.deadline_s == expected


@pytest.mark.parametrize(("slack", "fraction"), [(-1.0, 0.5), (0.0, 1.5), (0.0, -0.1), (math.nan, 0.5)])
def test_with_slack_rejects_bad_arguments(slack: float, fraction: float) -> None:
    with pytest.raises(ValueError):
        list(with_slack(trace(2), slack, fraction, 0))


# --- datasets --------------------------------------------------------------------------------

GAVEL_EXPECTED_GB = {
    "ResNet-18": 0.163,  # CIFAR-10 (Gavel job_table.py: --data_dir=%s/cifar10)
    "ResNet-50": 144.3,  # ImageNet train + val
    "Transformer": 0.004,  # Multi30k
    "LM": 0.0133,  # WikiText-2
    "Recommendation": 0.199,  # ML-20M
    "A3C": 0.0,
    "CycleGAN": 0.3,  # monet2photo
}


@pytest.mark.parametrize("job_type", GAVEL_JOB_TYPES)
def test_every_gavel_type_has_a_sourced_dataset(job_type: str) -> None:
    ds = dataset_for(job_type)
    assert job_family(job_type) in DATASETS
    assert dataset_gb(job_type) == GAVEL_EXPECTED_GB[job_family(job_type)]
    assert ds.source and ds.size_gb >= 0.0


@pytest.mark.parametrize("job_type", ["bert", "cifar10", "deepspeech2", "imagenet", "ncf", "yolov3"])
def test_pollux_types_are_in_the_table(job_type: str) -> None:
    assert job_type in DATASETS and dataset_gb(job_type) > 0.0


def test_unknown_type_gets_the_default() -> None:
    assert dataset_gb("GPT-9 (batch size 1)") == DEFAULT_DATASET_GB
    assert "ASSUMED" in dataset_for("GPT-9").source
