"""%bumps_remote in a real kernel: submitting, help, and one clear message per mistake."""

from __future__ import annotations

import pytest

from .kernel_session import KernelSession

SETUP = """
%load_ext jupyter_bumps_remote
from tests.support.problems import gaussian_problem
problem = gaussian_problem()
"""


@pytest.fixture(scope="module")
def kernel(kernel_env):
    session = KernelSession(kernel_env)
    assert session.run(SETUP)["status"] == "ok"
    yield session
    session.close()


def one_clear_message(out: dict, *fragments: str) -> str:
    """A UsageError: its message on stderr, no traceback."""
    text = out["stderr"] + out["stdout"]
    assert out["error"] is None or not out["error"].get("traceback"), out["error"]
    assert "Traceback" not in text, text
    for fragment in fragments:
        assert fragment in text, text
    return text


def test_line_magic_submits_and_returns_the_job(kernel):
    out = kernel.run(
        "job = %bumps_remote problem --fitter lm --seed 4 --wait\n"
        "print(job.status, job.seed, job.result().chisq > 0)"
    )
    assert out["status"] == "ok", out
    assert "succeeded 4 True" in out["stdout"]


def test_cell_magic_runs_the_cell_then_fits_its_problem(kernel):
    out = kernel.run(
        "%%bumps_remote --fitter dream --steps 50 --burn 10 --tag cellform --wait\n"
        "problem = gaussian_problem(n=30)\n"
    )
    assert out["status"] == "ok", out
    check = kernel.run(
        "import jupyter_bumps_remote as r\nprint([j.status for j in r.list_jobs(tag='cellform')])"
    )
    assert "['succeeded']" in check["stdout"]


def test_help_documents_every_option(kernel):
    # what `%bumps_remote?` shows: the registered magic's docstring
    out = kernel.run("print(get_ipython().find_line_magic('bumps_remote').__doc__)")
    for option in (
        "--fitter",
        "--steps",
        "--samples",
        "--burn",
        "--pop",
        "--name",
        "--tag",
        "--seed",
        "--parallel",
        "--max-time",
        "--wait",
    ):
        assert option in out["stdout"], option


@pytest.mark.parametrize(
    ("line", "fragments"),
    [
        ("%bumps_remote undefined_name", ("name 'undefined_name' is not defined",)),
        ("%bumps_remote 42", ("expected a bumps FitProblem", "got int")),
        (
            "%bumps_remote problem --fitter dream --stepz 3",
            ("unknown option '--stepz'", "dream options: --samples"),
        ),
        (
            "%bumps_remote problem --fitter lm --samples 3",
            ("lm has no option 'samples'", "lm options: --steps"),
        ),
        ("%bumps_remote problem --fitter simplex", ("invalid choice: 'simplex'",)),
        ("%bumps_remote problem --fitter lm --steps many", ("--steps many",)),
    ],
)
def test_mistakes_give_one_clear_message(kernel, line, fragments):
    one_clear_message(kernel.run(line), *fragments)


def test_no_reachable_server_is_one_clear_message(kernel_env):
    session = KernelSession(kernel_env)
    try:
        session.run(
            SETUP + "import jupyter_bumps_remote as r\nr.connect('http://127.0.0.1:9/', 'x')"
        )
        out = session.run("%bumps_remote problem --fitter lm")
        one_clear_message(out, "cannot reach the Jupyter server at http://127.0.0.1:9/")
    finally:
        session.close()


def test_a_job_survives_a_kernel_restart(kernel_env):
    session = KernelSession(kernel_env)
    try:
        # seconds of fit, still going after the kernel has restarted, even on a loaded machine
        submit = "job = %bumps_remote problem --fitter dream --steps 4000 --burn 10\nprint(job.id)"
        out = session.run(SETUP + submit)
        job_id = out["stdout"].strip().splitlines()[-1]
        session.restart()
        # displaying the re-attached job again resumes its live panel
        out = session.run(
            "import jupyter_bumps_remote as r\n"
            f"job = r.get_job('{job_id}')\nprint(job.status)\ndisplay(job)\n"
            "job._panel.join(120)\nprint(job._panel.status.value)\n"
            "result = job.result(timeout=120)\n"
            f"print(result.method, len(result.x), '{job_id}' in [j.id for j in r.list_jobs()])"
        )
        assert out["status"] == "ok", out
        lines = out["stdout"].splitlines()
        assert lines[0] in ("queued", "running"), lines  # still going when re-attached
        assert "succeeded" in lines[1], lines  # the panel followed it to the end
        assert "dream 3 True" in out["stdout"]
    finally:
        session.close()
