"""The sbatch script of a Slurm worker job (cli/slurm_script.py) and the files beside it."""

from __future__ import annotations

import dataclasses
import os
import stat
import subprocess
from pathlib import Path

import pytest

from jupyter_bumps_remote.cli import main, slurm
from jupyter_bumps_remote.cli.slurm_script import (
    SbatchOptions,
    ScriptError,
    render,
    settings_file_text,
    slurm_job_of,
    walltime_seconds,
    worker_lifetime,
)


def options(**changes) -> SbatchOptions:
    base = SbatchOptions(
        python="/opt/venv/bin/python",
        settings_file=Path("/home/u/.bumps-remote/slurm/worker.env"),
        log_dir=Path("/home/u/.bumps-remote/slurm/logs"),
    )
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 5400),
        ("10:30", 630),
        ("02:00:00", 7200),
        ("1-12", 129600),
        ("1-12:30", 131400),
        ("2-00:00:10", 172810),
    ],
)
def test_walltime_in_every_form_sbatch_takes(text, seconds):
    assert walltime_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "1h", "1:2:3:4", "-5", "1-", "ten"])
def test_a_walltime_sbatch_would_refuse_is_refused_naming_the_forms(text):
    with pytest.raises(ScriptError, match=r"--time .*02:00:00"):
        walltime_seconds(text)


def test_the_lifetime_is_the_walltime_less_the_margin_and_never_zero():
    assert worker_lifetime("01:00:00", 300) == 3300
    assert worker_lifetime("10", 0) == 600
    with pytest.raises(ScriptError, match=r"--time 5 \(300 s\).*--lifetime-margin"):
        worker_lifetime("5", 300)


def test_the_script_asks_slurm_for_what_was_given_and_nothing_else():
    text = render(
        options(
            partition="short",
            account="proj42",
            qos="normal",
            time="2:00:00",
            cpus_per_task=8,
            mem="16G",
            cpus_per_fit=2,
            directives=("--constraint=avx2",),
            prologue=("module load python/3.11",),
        )
    )
    directives = [line for line in text.splitlines() if line.startswith("#SBATCH")]
    assert directives == [
        "#SBATCH --job-name=bumps-remote",
        "#SBATCH --partition=short",
        "#SBATCH --account=proj42",
        "#SBATCH --qos=normal",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks=1",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=16G",
        "#SBATCH --time=2:00:00",
        "#SBATCH --output=/home/u/.bumps-remote/slurm/logs/%x-%j.out",
        "#SBATCH --constraint=avx2",
    ]
    assert "module load python/3.11\n" in text
    assert "--lifetime 6900" in text  # 2 h less the default 300 s
    assert '--hostname "bumps-remote-${SLURM_JOB_ID}@%h"' in text
    assert "exec /opt/venv/bin/python -m jupyter_bumps_remote.cli worker" in text
    bare = [line for line in render(options()).splitlines() if line.startswith("#SBATCH")]
    assert not any(
        flag in line
        for line in bare
        for flag in ("--partition", "--account", "--qos", "--cpus", "--mem")
    )


@pytest.mark.parametrize(
    ("cpus", "per_fit", "concurrency", "threads"),
    [("8", 2, "4", "2"), ("3", 2, "1", "2"), ("1", 1, "1", "1"), ("", 1, "1", "1")],
)
def test_the_script_splits_the_jobs_cpus_into_fits_and_threads(
    tmp_path, cpus, per_fit, concurrency, threads
):
    """The script itself, run by bash with a fake Python that prints what it was given."""
    python = tmp_path / "python"
    python.write_text('#!/bin/bash\necho "args: $*"\necho "omp: $OMP_NUM_THREADS"\n')
    python.chmod(0o755)
    settings = tmp_path / "worker.env"
    settings.write_text(settings_file_text({"BUMPS_REMOTE_REDIS_URL": "redis://:p@h/0?a=1&b=2"}))
    script = tmp_path / "worker.sbatch"
    script.write_text(
        render(
            options(
                python=str(python),
                settings_file=settings,
                log_dir=tmp_path,
                cpus_per_fit=per_fit,
                time="30",
            )
        )
    )
    env = {"PATH": os.environ["PATH"], "SLURM_JOB_ID": "77"}
    if cpus:
        env["SLURM_CPUS_PER_TASK"] = cpus
    out = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert f"args: -m jupyter_bumps_remote.cli worker --concurrency {concurrency} " in out.stdout
    assert "--hostname bumps-remote-77@%h --lifetime 1500" in out.stdout
    assert f"omp: {threads}" in out.stdout


def test_the_script_stops_with_the_reason_when_its_settings_file_is_missing(tmp_path):
    script = tmp_path / "worker.sbatch"
    script.write_text(render(options(settings_file=tmp_path / "gone.env", log_dir=tmp_path)))
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert out.returncode == 1
    assert "cannot read" in out.stderr and "gone.env" in out.stderr


def test_settings_are_quoted_for_the_shell():
    url = "redis://u:p$w'd@h:6379/0?ssl_ca_certs=/a b&x=1"
    text = settings_file_text({"BUMPS_REMOTE_REDIS_URL": url})
    out = subprocess.run(
        ["bash", "-c", f'{text}\nprintf %s "$BUMPS_REMOTE_REDIS_URL"'],
        capture_output=True,
        text=True,
    )
    assert out.stdout == url


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"job_name": "my job"}, "--job-name"),
        ({"job_name": "a@b"}, "--job-name"),
        ({"partition": "a b"}, "--partition"),
        ({"account": ""}, "--account"),
        ({"qos": "x\n#SBATCH --uid=0"}, "--qos"),
        ({"cpus_per_task": 0}, "--cpus-per-task"),
        ({"cpus_per_fit": 0}, "--cpus-per-fit"),
        ({"cpus_per_task": 2, "cpus_per_fit": 4}, "--cpus-per-fit 4 is more than"),
        ({"mem": "lots"}, "--mem"),
        ({"lifetime_margin": -1.0}, "--lifetime-margin"),
        ({"time": "2"}, "--time 2"),
        ({"directives": ("constraint=x",)}, "--sbatch-option"),
        ({"directives": ("--a=1\n--b=2",)}, "--sbatch-option"),
        ({"prologue": ("a\nb",)}, "--prologue"),
        ({"log_dir": Path("/my dir/logs")}, "--dir"),
    ],
)
def test_each_wrong_option_is_refused_by_name(changes, named):
    with pytest.raises(ScriptError, match=named.replace("(", r"\(")):
        render(options(**changes))


def test_worker_names_give_back_their_slurm_job():
    assert slurm_job_of("bumps-remote-123@node07.cluster", "bumps-remote") == "123"
    assert slurm_job_of("bumps-remote-x@node07", "bumps-remote") is None
    assert slurm_job_of("bumps-123@node07", "bumps-remote") is None
    assert slurm_job_of("other-123@node07", "other") == "123"


def test_script_writes_a_private_settings_file_and_keeps_secrets_out(tmp_path, monkeypatch, capsys):
    secret = "redis://:hunter2@10.1.2.3:6379/0"
    monkeypatch.setenv("BUMPS_REMOTE_REDIS_URL", secret)
    monkeypatch.setenv("BUMPS_REMOTE_PREFIX", "site:")
    monkeypatch.setenv("BUMPS_REMOTE_SERVER_URL", "http://not-a-worker-setting")
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")  # as in a job that runs `adapt`
    monkeypatch.setenv("SLURM_CONF", "/etc/slurm/other.conf")
    directory = tmp_path / "slurm"
    (directory).mkdir()
    (directory / "worker.env").write_text("old")
    (directory / "worker.env").chmod(0o644)
    assert main.main(["slurm", "script", "--dir", str(directory), "--time", "20"]) == 0
    printed = capsys.readouterr().out
    assert printed == (directory / "worker.sbatch").read_text()
    assert "hunter2" not in printed
    settings = directory / "worker.env"
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600
    text = settings.read_text()
    assert "hunter2" in text and "BUMPS_REMOTE_PREFIX=site:" in text
    assert "SERVER_URL" not in text
    # sbatch (and the job, which inherits sbatch's environment) never see the worker settings
    hidden = slurm.sbatch_environment()
    assert "BUMPS_REMOTE_REDIS_URL" not in hidden and "BUMPS_REMOTE_PREFIX" not in hidden
    assert hidden["BUMPS_REMOTE_SERVER_URL"] == "http://not-a-worker-setting"
    assert "SLURM_CPUS_PER_TASK" not in hidden and hidden["SLURM_CONF"] == "/etc/slurm/other.conf"


def test_without_a_redis_url_nothing_is_written_and_the_fix_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("BUMPS_REMOTE_REDIS_URL", raising=False)
    assert main.main(["slurm", "script", "--dir", str(tmp_path / "s")]) == 2
    assert "--redis-url" in capsys.readouterr().err
    assert not (tmp_path / "s" / "worker.env").exists()


def test_a_missing_slurm_command_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main.main(["slurm", "cancel", "--all"]) == 2
    assert "squeue not found" in capsys.readouterr().err
