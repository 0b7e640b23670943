"""An importable model package present on both sides, like refl1d: travels by reference."""

import numpy as np


def line(x, m, b):
    return m * x + b


class Exponential:
    """A model class from an installed package."""

    @staticmethod
    def evaluate(x, amplitude, rate):
        return amplitude * np.exp(-rate * x)
