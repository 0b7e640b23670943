"""bumps' chisq() without recomputing its unused chi2.ppf (shared/bumps_compat.py): the same
values to the bit, the original back after the block, nested and from threads, and a bumps
whose nllf_scale takes the problem left alone."""

from __future__ import annotations

import threading

from bumps import fitproblem

from jupyter_bumps_remote.shared import bumps_compat, transport

from ..support.problems import gaussian_problem


def test_chisq_is_the_same_to_the_bit_and_the_original_comes_back():
    original = fitproblem.nllf_scale
    problems = [gaussian_problem(n=n) for n in (2, 3, 4, 50, 400)]  # dof <= 0 included
    before = [p.chisq() for p in problems]
    with bumps_compat.memoized_chisq_scale():
        assert fitproblem.nllf_scale is not original
        with bumps_compat.memoized_chisq_scale():  # nested: still memoized inside
            twice = [p.chisq() for p in problems] + [p.chisq() for p in problems]
        assert fitproblem.nllf_scale is not original
    assert fitproblem.nllf_scale is original
    assert [x.hex() for x in twice] == [x.hex() for x in before + before]


def test_blocks_in_threads_at_once_leave_the_original():
    original = fitproblem.nllf_scale
    problem = gaussian_problem()
    expected = problem.chisq()
    inside, release = threading.Barrier(4), threading.Event()
    seen: list[float] = []

    def use() -> None:
        with bumps_compat.memoized_chisq_scale():
            inside.wait(30)
            seen.append(problem.chisq())
            release.wait(30)

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(60)
    assert seen == [expected] * 4 and fitproblem.nllf_scale is original


def test_a_scale_that_takes_the_problem_is_left_alone(monkeypatch):
    def old_style(problem):  # bumps 0.9's nllf_scale(problem)
        return 1.0, 0.0

    monkeypatch.setattr(fitproblem, "nllf_scale", old_style)
    with bumps_compat.memoized_chisq_scale():
        assert fitproblem.nllf_scale is old_style
    assert fitproblem.nllf_scale is old_style


def test_encode_and_decode_leave_the_original_in_place():
    original = fitproblem.nllf_scale
    problem = gaussian_problem()
    assert transport.decode(transport.encode(problem)).chisq() == problem.chisq()
    assert fitproblem.nllf_scale is original
