"""Two overlapping 2-D gaussian peaks on a flat background, fitted to measured counts.

A bumps model script: `bumps model.py` fits it locally; `bumps-remote submit model.py
--fitter lm --wait` fits it on the remote workers (see the README). It is bumps' own
"Peak Fitting" tutorial (doc/examples/peaks) written with a `Curve`, so that it needs
nothing but bumps: the same data, the same parameters, the same starting point. The
second peak's center lies at distance `delta` from the first's, at angle `angle`; both
peaks share their widths and orientation.
"""

from pathlib import Path

import numpy as np
from bumps.names import Curve, FitProblem

DATA = Path(__file__).resolve().parent / "data" / "XY_mesh2.txt"

columns = np.loadtxt(DATA, unpack=True)  # 52 columns: x, y, counts, uncertainties (13 each)
X, Y, counts = columns[0:13].T, columns[13:26].T, columns[26:39].T  # 23 × 13 grids
err = np.sqrt(counts)


def gaussian(x, y, area, xc, yc, s1, s2, theta):
    """A rotated 2-D gaussian, normalized to `area` total counts over the grid."""
    t = np.radians(theta)
    x, y = x - xc, y - yc
    x, y = x * np.cos(t) + y * np.sin(t), -x * np.sin(t) + y * np.cos(t)
    shape = np.exp(-0.5 * ((x / s1) ** 2 + (y / s2) ** 2))
    return shape / shape.sum() * abs(area)


def two_peaks(xy, A1, A2, xc, yc, s1, s2, theta, delta, angle, background):
    x, y = xy
    xc2 = xc + delta * np.cos(np.radians(angle))
    yc2 = yc + delta * np.sin(np.radians(angle))
    return (
        gaussian(x, y, A1, xc, yc, s1, s2, theta)
        + gaussian(x, y, A2, xc2, yc2, s1, s2, theta)
        + background
    )


def plot_grid(xy, y, dy, theory, view=None, **pars):
    """Data, theory and normalized residuals as three maps (bumps' tutorial's plot)."""
    import matplotlib.pyplot as plt

    shape = X.shape
    window = 0.2 * (y.max() - y.min())
    limits = dict(vmin=y.min() - window, vmax=y.max() + window)
    plt.clf()
    for i, (title, values, kw) in enumerate(
        [("data", y, limits), ("theory", theory, limits), ("residuals", (y - theory) / dy, {})]
    ):
        axes = plt.subplot(1, 3, i + 1)
        axes.pcolormesh(X, Y, values.reshape(shape), **kw)
        axes.set_xlabel(title)  # bumps writes χ² above the last axes
        axes.tick_params(axis="x", labelrotation=90)
        if i:
            axes.set_yticklabels([])
    plt.subplots_adjust(bottom=0.2, wspace=0.08)


# Starting point and ranges as in bumps' tutorial.
background = counts.min() + np.sqrt(counts.min())
signal = counts.sum() - counts.size * background
cx, cy = 0.4996 - 0.4957, -0.4849 + 0.4917

model = Curve(
    two_peaks, np.vstack([X.ravel(), Y.ravel()]), counts.ravel(), err.ravel(),
    plotter=plot_grid,
    A1=signal / 2, A2=signal / 2, xc=0.500, yc=-0.485, s1=0.006, s2=0.002, theta=-60.0,
    delta=np.hypot(cx, cy), angle=np.degrees(np.arctan2(cy, cx)), background=background,
)  # fmt: skip
model.A1.range(0.1 * signal, 1.1 * signal)
model.A2.range(0.1 * signal, 1.1 * signal)
model.xc.range(0.45, 0.55)
model.yc.range(-0.55, -0.4)
model.s1.range(0.002, 0.02)
model.s2.range(0.001, 0.02)
model.theta.range(-90, 0)
model.delta.range(0.0, 0.015)
model.angle.range(0, 90)
model.background.pmp(100.0)

problem = FitProblem(model)
