"""The bumps.serialize document of a refl1d problem, found by walking each object once
(shared/encodings.py), is bumps' own byte for byte (tests/unit/test_encode_caches.py holds
the same check for plain bumps problems)."""

from __future__ import annotations

import json

from jupyter_bumps_remote.shared import encodings

from ..support.libraries import require


def bumps_document(problem) -> bytes:
    from bumps.serialize import serialize

    return json.dumps(serialize(problem), separators=(",", ":")).encode()


def test_a_refl1d_document_is_bumps_own():
    """A sample holds each parameter in many places: walked once, the same document."""
    require("refl1d")
    import numpy as np
    from refl1d.names import SLD, Experiment, FitProblem, NeutronProbe, silicon

    film, solvent = SLD(name="film", rho=3.5), SLD(name="D2O", rho=6.3)
    sample = silicon(0, 5) | film(150, 10) | solvent
    other = silicon(0, 5) | film(150, 10) | SLD(name="H2O", rho=-0.56)
    for i in range(3):  # the second stack shares the first one's thicknesses and interfaces
        other[i].thickness, other[i].interface = sample[i].thickness, sample[i].interface
    sample[1].thickness.range(100, 200)
    sample[1].interface.range(0, 30)
    film.rho.range(2, 5)
    q = np.linspace(0.01, 0.2, 40)
    probes = [
        NeutronProbe(T=q, dT=0.01, L=5.0, dL=0.05, data=(np.full(40, 0.1), np.full(40, 0.01)))
        for _ in range(2)
    ]
    problem = FitProblem(
        [Experiment(sample=sample, probe=probes[0]), Experiment(sample=other, probe=probes[1])]
    )
    assert encodings.pack(problem, encodings.SERIALIZE) == bumps_document(problem)
