import pytest

from cpnet.sched.maxmin_lp import LpClass, equal_share_throughput, solve_maxmin

CAP = {"V100": 1, "K80": 1}


def cls(key, rates, n=1, gang=1, w=1.0, m=2, cap=CAP):
    t_eq = equal_share_throughput(rates, cap, m)
    return LpClass(key, n, gang, {k: r * gang / (w * t_eq) for k, r in rates.items()}, dict(cap))


def test_equal_share_throughput_is_gavels_proportional_policy():
    # 2 devices for 4 jobs: each gets cap_k / 4 of each model; 1 job: rescaled so sum_k x_k = 1
    assert equal_share_throughput({"V100": 4, "K80": 1}, CAP, 4) == pytest.approx(4 / 4 + 1 / 4)
    assert equal_share_throughput({"V100": 4, "K80": 1}, CAP, 1) == pytest.approx((4 + 1) / 2)


def test_two_jobs_two_types_hand_computed():
    # A: 4x faster on V100; B: indifferent. Equal shares give T_eq(A) = 2.5, T_eq(B) = 1, so
    # c_A = (1.6, 0.4), c_B = (1, 1). Max-min: t = 1 for any V100 share of A in [0.5, 1]; the second
    # phase (max total normalised throughput) picks A -> V100 only, B -> K80 only.
    r = solve_maxmin([cls("A", {"V100": 4, "K80": 1}), cls("B", {"V100": 1, "K80": 1})], CAP, second_phase=True)
    assert r.t == pytest.approx(1.0)
    assert r.alloc["A"] == pytest.approx({"V100": 1.0})
    assert r.alloc["B"] == pytest.approx({"K80": 1.0})


def _normalised(r, classes):
    return {g.key: sum(g.coeff[k] * y for k, y in r.alloc[g.key].items()) for g in classes}


def test_without_second_phase_any_max_min_optimum_is_returned():
    # Gavel's LP alone (the default): the same t = 1, but the slack is left where the solver put it;
    # every job still gets at least t, and the second phase's total is never lower.
    classes = [cls("A", {"V100": 4, "K80": 1}), cls("B", {"V100": 1, "K80": 1})]
    off = solve_maxmin(classes, CAP)
    on = solve_maxmin(classes, CAP, second_phase=True)
    assert off.t == pytest.approx(1.0) and on.t == pytest.approx(1.0)
    got_off, got_on = _normalised(off, classes), _normalised(on, classes)
    assert min(got_off.values()) == pytest.approx(1.0, abs=1e-6)
    assert sum(got_on.values()) == pytest.approx(1.6 + 1.0)
    assert sum(got_on.values()) >= sum(got_off.values()) - 1e-9
    for k in CAP:  # capacity holds either way
        assert sum(off.alloc[g.key].get(k, 0.0) for g in classes) <= CAP[k] + 1e-9


def test_weights_scale_time_shares():
    # throughputs all 1 (agnostic LAS): 3 jobs on 2 devices, weights 1, 1, 2 -> shares 0.5, 0.5, 1
    cs = [cls(k, {"V100": 1, "K80": 1}, w=w, m=3) for k, w in (("a", 1.0), ("b", 1.0), ("c", 2.0))]
    r = solve_maxmin(cs, CAP)
    shares = {k: sum(v.values()) for k, v in r.alloc.items()}
    assert shares == pytest.approx({"a": 0.5, "b": 0.5, "c": 1.0}, abs=1e-5)


def test_class_of_identical_jobs_share_capacity():
    # 4 identical jobs in one class on 2 devices: each gets 1/2 of the time, all capacity used
    r = solve_maxmin([cls("g", {"V100": 1, "K80": 1}, n=4, m=4)], CAP)
    assert sum(r.alloc["g"].values()) == pytest.approx(0.5, abs=1e-6)


def test_warm_start_gives_the_same_optimum():
    a = [cls("A", {"V100": 3, "K80": 1}, m=3), cls("B", {"V100": 2, "K80": 1}, m=3)]
    first = solve_maxmin(a, CAP)
    more = [*a, cls("C", {"V100": 1, "K80": 1}, m=3)]
    cold = solve_maxmin(more, CAP)
    warm = solve_maxmin(more, CAP, warm=first.basis)
    assert warm.status == cold.status == "Optimal"
    assert warm.t == pytest.approx(cold.t, rel=1e-6)
