"""The memo of bumps' nllf_scale outlives an encode (shared/bumps_compat.py): the next block
reads what the first computed, for the same nllf_scale only; a replaced one is memoized
afresh, and the original is back after each block."""

from __future__ import annotations

from bumps import fitproblem

from jupyter_bumps_remote.shared import bumps_compat

from ..support.problems import gaussian_problem


def counting(calls: list):
    def nllf_scale(dof, npars, norm=True):
        calls.append((dof, npars, norm))
        return 2.0 / dof, 0.0

    return nllf_scale


def test_a_second_block_reads_the_first_blocks_values(monkeypatch):
    calls: list = []
    scale = counting(calls)
    monkeypatch.setattr(fitproblem, "nllf_scale", scale)
    problem = gaussian_problem()
    with bumps_compat.memoized_chisq_scale():
        first = problem.chisq()
    assert fitproblem.nllf_scale is scale and len(calls) == 1
    with bumps_compat.memoized_chisq_scale():
        again = problem.chisq()
    assert fitproblem.nllf_scale is scale
    assert calls == [calls[0]] and again == first


def test_another_nllf_scale_gets_a_memo_of_its_own(monkeypatch):
    calls: list = []
    other_calls: list = []
    problem = gaussian_problem()
    monkeypatch.setattr(fitproblem, "nllf_scale", counting(calls))
    with bumps_compat.memoized_chisq_scale():
        problem.chisq()
    other = counting(other_calls)
    monkeypatch.setattr(fitproblem, "nllf_scale", other)
    with bumps_compat.memoized_chisq_scale():
        problem.chisq()
        problem.chisq()
    assert len(calls) == 1 and len(other_calls) == 1
    assert fitproblem.nllf_scale is other


def test_values_are_bumps_own_across_blocks():
    original = fitproblem.nllf_scale
    problems = [gaussian_problem(n=n) for n in (2, 3, 50)]
    expected = [p.chisq().hex() for p in problems]
    for _ in range(3):
        with bumps_compat.memoized_chisq_scale():
            assert [p.chisq().hex() for p in problems] == expected
        assert fitproblem.nllf_scale is original
