"""Fit problems for the tests, with model code that travels by value like a notebook's."""

from __future__ import annotations

import types

import numpy as np

GAUSSIAN_SOURCE = """
import numpy as np
import time

SCALE = 1.0   # a global the model reads: must travel with it

def gaussian(x, A, mu, sigma):
    return SCALE * A * np.exp(-0.5 * ((x - mu) / sigma) ** 2)

def slow_gaussian(x, A, mu, sigma):
    time.sleep(DELAY)
    return gaussian(x, A, mu, sigma)

CALLS = [0]

def raising_gaussian(x, A, mu, sigma):
    CALLS[0] += 1
    if CALLS[0] > RAISE_AFTER:
        raise RuntimeError("model exploded on purpose")
    return gaussian(x, A, mu, sigma)

DELAY = 0.002
RAISE_AFTER = 1
"""


def user_module(source: str = GAUSSIAN_SOURCE, name: str = "user_notebook_code"):
    """A module that is not importable elsewhere, as code typed in a notebook is:
    cloudpickle ships its functions by value."""
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


def gaussian_data(n: int = 50, noise: float = 0.05, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = np.linspace(-5, 5, n)
    y = 1.0 * np.exp(-0.5 * ((x - 0.3) / 1.2) ** 2) + rng.normal(0, noise, n)
    return x, y, np.full(n, noise)


def gaussian_problem(n: int = 50, model: str = "gaussian", **module_globals):
    module = user_module()
    vars(module).update(module_globals)
    return gaussian_fit_of(getattr(module, model), n)


def gaussian_fit_of(function, n: int = 50):
    """The tests' gaussian fit (A, mu, sigma, each with its range) of model `function`: the
    problem of the tests' hostile, talking and plain models alike."""
    from bumps.names import Curve, FitProblem

    x, y, dy = gaussian_data(n)
    curve = Curve(function, x, y, dy, A=0.8, mu=0.0, sigma=1.0)
    curve.A.range(0, 3)
    curve.mu.range(-2, 2)
    curve.sigma.range(0.1, 5)
    return FitProblem(curve)


# a model function kept by a callable object whose pickle drops its scale: a problem with
# scale 1 survives the round trip, one with another scale does not
LOSSY = """
import numpy as np

class Scaled:
    def __init__(self, scale=1.0):
        self.scale = scale

    def __call__(self, x, A, mu, sigma):
        return self.scale * A * np.exp(-0.5 * ((x - mu) / sigma) ** 2)

    def __getstate__(self):
        return {}

    def __setstate__(self, state):
        self.scale = 1.0
"""


def lossy_problem(scale: float):
    return gaussian_fit_of(user_module(LOSSY, name="lossy_notebook_code").Scaled(scale))


# two models that share a parameter, one of them through a callable object that holds it:
# bumps.serialize pickles that object on its own, so its copy of the parameter comes back
# as a separate one (docs/transport.md); a problem holding a lock goes as that document
SHIFTED = """
class Shifted:
    def __init__(self, shift):
        self.shift = shift

    def __call__(self, x, a):
        return a * x + self.shift.value

def offset(x, s):
    return x + s
"""


def shared_shift_problem(shared: bool, lock: bool = False):
    """Two lines fitted together; `shared`: the second's callable holds the first's fitted
    `shift` (else a fixed copy of it); `lock`: a lock on the first, which no pickle takes."""
    import threading

    from bumps.names import Curve, FitProblem, Parameter

    module = user_module(SHIFTED, name="shifted_notebook_code")
    x = np.linspace(0, 1, 11)
    shift = Parameter(0.5, name="shift").range(0, 2)
    first = Curve(module.offset, x, x + 1, 0.1 + 0 * x, s=shift)
    second = Curve(
        module.Shifted(shift if shared else Parameter(0.5, name="fixed")),
        x,
        2 * x + 1,
        0.1 + 0 * x,
        a=1.0,
    )
    second.a.range(0, 5)
    if lock:
        first.lock = threading.Lock()
    return FitProblem([first, second])
