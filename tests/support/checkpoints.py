"""Reading a job's checkpoints in tests: what its fit stored (unpickled here, in the test,
as only the job's own fit process does in the product), and the steps its fits resumed at."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np

from jupyter_bumps_remote.shared.fitting import run_fit

from .problems import gaussian_problem
from .waiting import wait_until


def stored(store, owner: str, job_id: str) -> dict | None:
    raw = store.checkpoint(owner, job_id)
    return pickle.loads(raw) if raw is not None else None  # noqa: S301 - the test's own job


def wait_for_checkpoint(store, owner: str, job_id: str, past: int = 0, timeout: float = 60):
    """The job's checkpoint once one is stored at a step above `past`."""
    return wait_until(
        lambda: (c := stored(store, owner, job_id)) is not None and c["step"] > past and c,
        timeout=timeout,
        what=f"a checkpoint past step {past}",
    )


def chains(checkpoint: dict) -> dict[int, np.ndarray]:
    """A DREAM checkpoint's chains: the points of each generation it keeps (its buffer keeps
    the last ones), by the number of draws made up to that generation."""
    draws, points, _ = checkpoint["state"].chains()
    return {int(d): p for d, p in zip(draws, points, strict=True)}


def continues(before: dict[int, np.ndarray], after: dict[int, np.ndarray]) -> bool:
    """Whether the chains `after` hold those `before` unchanged where both keep them, and go
    further. The checkpoint's last generation is left out: DREAM's outlier test, which may
    run first thing in a resumed fit as in one left alone, moves an outlier chain's head
    (`MCMCDraw._replace_outlier`: the current generation, in place)."""
    return not differences(before, after)


def differences(before: dict[int, np.ndarray], after: dict[int, np.ndarray]) -> list[str]:
    """What keeps `after` from continuing `before` (see `continues`)."""
    common = sorted((set(before) & set(after)) - {max(before)})
    found = [
        f"generation at {d} draws differs"
        for d in common
        if not np.array_equal(before[d], after[d])
    ]
    if len(common) < len(before) / 2:
        found.append(f"only {len(common)} of {len(before)} generations in common")
    if max(after) <= max(before):
        found.append("no generation after the checkpoint's")
    return found


def resumed_at(events: list[dict]) -> set[int]:
    """The steps a job's fits said they resumed from (`resumed_from` in progress events)."""
    return {
        e["data"]["resumed_from"]
        for e in events
        if e["type"] == "progress" and e["data"].get("resumed_from") is not None
    }


def steps_left_alone(fitter: str, options: dict, seed: int = 1) -> int:
    """The steps of the same fit run to its end here, uninterrupted (the model's speed does
    not change them)."""
    result: Any = run_fit(gaussian_problem(), fitter, options, seed).result
    return int(result.nit)


def check_resumed(remote, job_id: str, last: dict, fitter: str, options: dict) -> None:
    """The job (ended) resumed from the checkpoint `last`, ended after as many steps as the
    fit left alone, and its chains continue the checkpoint's."""
    assert resumed_at(remote.events(job_id)) == {last["step"]}
    assert remote.store.result(remote.owner, job_id) is not None
    remote.session(job_id)  # the fit's end state is stored before its session file
    final = stored(remote.store, remote.owner, job_id)
    assert final is not None
    assert final["step"] == steps_left_alone(fitter, options)
    assert continues(chains(last), chains(final))
