"""The registry builds every policy from a name and parameters, and rejects unknown parameters."""

import pytest

from cpnet.core.errors import UnknownNameError
from cpnet.sched.profile import DEFAULT_PROFILE
from cpnet.sched.registry import make_policy, policy_names, policy_params


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("fifo", {"round_s", "reset_interval_s"}),
        ("gavel-fifo", {"round_s", "reset_interval_s"}),
        ("las", {"round_s", "reset_interval_s", "second_phase"}),
        ("gavel-las", {"round_s", "reset_interval_s", "second_phase"}),
    ],
)
def test_each_policy_names_its_parameters_and_composes_the_default_profile(name, params):
    assert set(policy_params(name)) == params
    assert make_policy(name).profile is DEFAULT_PROFILE  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["fifo", "gavel-fifo", "las", "gavel-las"])
def test_unknown_parameter_is_rejected_with_the_valid_ones(name):
    with pytest.raises(UnknownNameError, match="round_s") as err:
        make_policy(name, {"round": 360})
    assert "'round'" in str(err.value) and name in str(err.value)


def test_unknown_policy():
    with pytest.raises(UnknownNameError, match="gavel-las"):
        make_policy("nope")
    assert {"fifo", "gavel-fifo", "gavel-las", "las"} <= set(policy_names())
