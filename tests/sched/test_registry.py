"""The registry builds every policy from a name and parameters, and rejects unknown parameters."""

import pytest

from cpnet.core.errors import UnknownNameError
from cpnet.sched.profile import DEFAULT_PROFILE
from cpnet.sched.registry import make_policy, policy_names, policy_params


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("fifo", {"round_s", "reset_interval_s", "work_conserving"}),
        ("gavel-fifo", {"round_s", "reset_interval_s", "work_conserving"}),
        ("las", {"round_s", "reset_interval_s", "second_phase", "work_conserving", "tenant_share"}),
        ("gavel-las", {"round_s", "reset_interval_s", "second_phase", "work_conserving", "tenant_share"}),
    ],
)
def test_each_policy_names_its_parameters_and_composes_the_default_profile(name, params):
    assert set(policy_params(name)) == params
    assert make_policy(name).profile is DEFAULT_PROFILE  # type: ignore[attr-defined]


NETWORK_PARAMS = {"round_s", "reset_interval_s", "second_phase", "work_conserving", "tenant_share", "w_transfer", "w_latency", "w_cost", "w_carbon", "w_power"}


@pytest.mark.parametrize(
    ("name", "extra", "scores"),
    [
        ("convergent", set(), {"data-transfer": 1.0, "energy-price": 1.0, "carbon": 1.0, "power-headroom": 0.25}),
        ("carbon-aware", {"defer"}, {"data-transfer": 1.0, "energy-price": 0.5, "carbon": 3.0, "power-headroom": 0.25}),
        ("cost-aware", {"defer"}, {"data-transfer": 1.0, "energy-price": 3.0, "carbon": 0.5, "power-headroom": 0.25}),
        ("carbon-greedy", set(), {"carbon": 1.0}),
    ],
)
def test_network_policies_compose_weighted_scores(name, extra, scores):
    assert set(policy_params(name)) == NETWORK_PARAMS | extra
    policy = make_policy(name)
    inner = getattr(policy, "inner", policy)  # carbon-aware / cost-aware wrap a deferral gate around it
    assert {s.name: w for s, w in inner.profile.site_scores} == scores
    assert make_policy(name, {"w_latency": 2.0}).name == name


@pytest.mark.parametrize("name", ["fifo", "gavel-fifo", "las", "gavel-las", "convergent", "carbon-aware"])
def test_unknown_parameter_is_rejected_with_the_valid_ones(name):
    with pytest.raises(UnknownNameError, match="round_s") as err:
        make_policy(name, {"round": 360})
    assert "'round'" in str(err.value) and name in str(err.value)


def test_unknown_policy():
    with pytest.raises(UnknownNameError, match="gavel-las"):
        make_policy("nope")
    assert {"fifo", "gavel-fifo", "gavel-las", "las"} <= set(policy_names())
