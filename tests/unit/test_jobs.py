"""Job ids and validation of what a user asks for: fitter, options, seed, name, tags."""

from __future__ import annotations

import math
import re
from contextlib import contextmanager

import pytest
from bumps import fitters as bumps_fitters

from jupyter_bumps_remote.shared import jobs
from jupyter_bumps_remote.shared.jobs import JobInputError
from tests.support.problems import gaussian_problem

ALL_FITTERS = ("amoeba", "lm", "newton", "de", "dream", "pt")

# Each fitter's own settings as bumps 1.0 declares them (each class's `settings` in bumps.fitters).
SETTINGS = {
    "amoeba": {"steps", "radius", "xtol", "ftol", "starts", "jump"},
    "lm": {"steps", "ftol", "xtol", "starts", "jump"},
    "newton": {"steps", "ftol", "xtol", "starts", "jump"},
    "de": {"steps", "pop", "CR", "F", "ftol", "xtol"},
    "dream": {"samples", "burn", "pop", "init", "thin", "alpha", "outliers", "trim", "steps"},
    "pt": {"steps", "nT", "CR", "burn", "Tmin", "Tmax"},
}


@contextmanager
def raises_input_error(field: str, *fragments: str):
    """Expect a JobInputError for `field` whose message holds every fragment."""
    with pytest.raises(JobInputError) as info:
        yield info
    error = info.value
    assert error.field == field, f"field {error.field!r}, expected {field!r}"
    for fragment in fragments:
        assert fragment in error.message, f"{fragment!r} not in {error.message!r}"
    assert str(error) == f"{field}: {error.message}"


# --- states ---------------------------------------------------------------------------------


def test_states_split_into_active_and_terminal():
    assert jobs.ACTIVE | jobs.TERMINAL == set(jobs.STATES)
    assert not jobs.ACTIVE & jobs.TERMINAL
    assert jobs.QUEUED in jobs.ACTIVE and jobs.RUNNING in jobs.ACTIVE


# --- job ids --------------------------------------------------------------------------------


def test_new_job_id_is_32_lowercase_hex_and_unique():
    ids = {jobs.new_job_id() for _ in range(200)}
    assert len(ids) == 200
    for job_id in ids:
        assert re.fullmatch(r"[0-9a-f]{32}", job_id)
        assert jobs.is_job_id(job_id)


@pytest.mark.parametrize(
    "value",
    [
        "",
        None,
        "0" * 31,
        "0" * 33,
        "A" * 32,  # ids are lowercase
        "g" * 32,
        "0" * 31 + "-",
        " " + "0" * 32,
        "../" + "0" * 29,
    ],
)
def test_is_job_id_rejects(value):
    assert not jobs.is_job_id(value)


def test_is_job_id_accepts_the_pattern():
    assert jobs.is_job_id("0123456789abcdef" * 2)
    assert re.fullmatch(jobs.JOB_ID_PATTERN, "0123456789abcdef" * 2)


def test_is_job_id_rejects_trailing_newline():
    assert not jobs.is_job_id("0" * 32 + "\n")


# --- fitter ---------------------------------------------------------------------------------


def test_every_available_bumps_fitter_is_offered():
    assert set(bumps_fitters.FIT_AVAILABLE_IDS) == set(ALL_FITTERS)
    assert set(jobs.fitters()) == set(ALL_FITTERS)


@pytest.mark.parametrize("fitter", ALL_FITTERS)
def test_validate_fitter_accepts(fitter):
    info = jobs.validate_fitter(fitter)
    assert info.id == fitter
    assert info.name
    assert {name for name, _ in info.settings} == SETTINGS[fitter]
    as_dict = info.to_dict()
    assert as_dict["id"] == fitter and set(as_dict["settings"]) == SETTINGS[fitter]


def test_fitter_defaults_are_bumps_own():
    assert dict(jobs.validate_fitter("lm").settings)["steps"] == 200
    assert dict(jobs.validate_fitter("dream").settings)["samples"] == 10000
    assert dict(jobs.validate_fitter("amoeba").settings)["steps"] == 1000


@pytest.mark.parametrize("fitter", ["nope", "LM", "", None, 3, ["lm"]])
def test_validate_fitter_rejects_unknown(fitter):
    with raises_input_error("fitter", repr(fitter), ", ".join(sorted(ALL_FITTERS))):
        jobs.validate_fitter(fitter)


# --- options: good values -------------------------------------------------------------------


@pytest.mark.parametrize("fitter", ALL_FITTERS)
def test_each_fitters_own_defaults_validate_unchanged(fitter):
    defaults = dict(jobs.validate_fitter(fitter).settings)
    assert jobs.validate_options(fitter, defaults) == defaults


GOOD = [
    ("amoeba", {"steps": 500, "radius": 0.5, "xtol": 1e-4, "ftol": 0, "starts": 3, "jump": 0.1}),
    ("lm", {"steps": 50, "ftol": 1e-6, "xtol": 1e-6, "starts": 2, "jump": 0}),
    ("newton", {"steps": 100, "ftol": 1e-8, "xtol": 0.0, "starts": 1, "jump": 0.5}),
    ("de", {"steps": 10, "pop": 5, "CR": 0.5, "F": 1.5, "ftol": 1e-6, "xtol": 1e-8}),
    (
        "dream",
        {
            "samples": 2000,
            "burn": 0,
            "pop": 4,
            "init": "lhs",
            "thin": 2,
            "alpha": 0.01,
            "outliers": "none",
            "trim": False,
            "steps": 100,
        },
    ),
    ("pt", {"steps": 20, "nT": 4, "CR": 1, "burn": 5, "Tmin": 0.5, "Tmax": 20}),
]


@pytest.mark.parametrize(("fitter", "options"), GOOD, ids=[f for f, _ in GOOD])
def test_validate_options_accepts_good_values(fitter, options):
    assert set(options) == SETTINGS[fitter]  # every setting of every fitter is exercised
    assert jobs.validate_options(fitter, options) == options


def test_validate_options_keeps_only_what_was_given():
    assert jobs.validate_options("lm", {"steps": 10}) == {"steps": 10}
    assert jobs.validate_options("lm", {}) == {}
    assert jobs.validate_options("lm", None) == {}


def test_whole_float_steps_become_int():
    clean = jobs.validate_options("lm", {"steps": 20.0})
    assert clean == {"steps": 20} and type(clean["steps"]) is int


@pytest.mark.parametrize("choice", ["eps", "lhs", "cov", "random"])
def test_dream_init_choices(choice):
    assert jobs.validate_options("dream", {"init": choice}) == {"init": choice}


@pytest.mark.parametrize("choice", ["none", "iqr", "grubbs", "mahal"])
def test_dream_outliers_choices(choice):
    assert jobs.validate_options("dream", {"outliers": choice}) == {"outliers": choice}


@pytest.mark.parametrize("fitter", ["de", "pt"])
@pytest.mark.parametrize("cr", [0, 0.0, 1, 1.0, 0.3])
def test_cr_bounds_are_inclusive(fitter, cr):
    assert jobs.validate_options(fitter, {"CR": cr}) == {"CR": cr}


# --- options: bad values --------------------------------------------------------------------


def test_options_must_be_an_object():
    for bad in (["steps", 10], "steps=10", 3):
        with raises_input_error("options", "object"):
            jobs.validate_options("lm", bad)


def test_validate_options_checks_the_fitter_first():
    with raises_input_error("fitter", "'bogus'"):
        jobs.validate_options("bogus", {"steps": 1})


@pytest.mark.parametrize("fitter", ALL_FITTERS)
def test_unknown_option_is_named_and_allowed_ones_listed(fitter):
    with raises_input_error("options.colour", fitter, "'colour'") as info:
        jobs.validate_options(fitter, {"colour": "blue"})
    allowed = info.value.message.split("allowed:", 1)[1]
    for name in SETTINGS[fitter] | {"parallel", "max_time"}:
        assert re.search(rf"\b{name}\b", allowed), name


def test_another_fitters_option_is_unknown():
    # `pop` belongs to de/dream, not lm; `samples` to dream, not amoeba.
    with raises_input_error("options.pop", "'pop'"):
        jobs.validate_options("lm", {"pop": 10})
    with raises_input_error("options.samples", "'samples'"):
        jobs.validate_options("amoeba", {"samples": 10})


@pytest.mark.parametrize(
    ("fitter", "name", "value"),
    [
        ("lm", "steps", "100"),
        ("lm", "ftol", "1e-6"),
        ("amoeba", "radius", [0.1]),
        ("de", "F", None),
        ("dream", "samples", {"n": 1}),
        ("pt", "Tmax", "hot"),
    ],
)
def test_wrong_type_is_rejected(fitter, name, value):
    with raises_input_error(f"options.{name}", "finite number", "default"):
        jobs.validate_options(fitter, {name: value})


@pytest.mark.parametrize(
    ("fitter", "name", "value"),
    [
        ("lm", "steps", True),
        ("de", "CR", False),
        ("amoeba", "radius", True),
        ("dream", "samples", True),
        ("pt", "nT", True),
    ],
)
def test_bool_is_not_a_number(fitter, name, value):
    with raises_input_error(f"options.{name}", "finite number"):
        jobs.validate_options(fitter, {name: value})


@pytest.mark.parametrize("value", [1, 0, "yes", None])
def test_dream_trim_must_be_bool(value):
    with raises_input_error("options.trim", "true or false"):
        jobs.validate_options("dream", {"trim": value})


@pytest.mark.parametrize(
    ("fitter", "name"),
    [
        ("lm", "steps"),
        ("amoeba", "starts"),
        ("dream", "samples"),
        ("dream", "burn"),
        ("dream", "thin"),
        ("pt", "nT"),
    ],
)
def test_integer_settings_reject_fractions(fitter, name):
    with raises_input_error(f"options.{name}", "whole number"):
        jobs.validate_options(fitter, {name: 10.5})


@pytest.mark.parametrize("fitter", ["amoeba", "lm", "newton", "de", "dream", "pt"])
def test_negative_steps_rejected(fitter):
    with raises_input_error("options.steps", "whole number", "0 or more"):
        jobs.validate_options(fitter, {"steps": -1})


@pytest.mark.parametrize(
    ("fitter", "name", "value"),
    [
        ("lm", "ftol", math.nan),
        ("lm", "xtol", math.inf),
        ("amoeba", "radius", -math.inf),
        ("de", "CR", math.nan),
        ("de", "F", math.inf),
        ("lm", "steps", math.inf),
        ("dream", "samples", math.nan),
        ("pt", "Tmin", math.nan),
    ],
)
def test_nan_and_inf_rejected(fitter, name, value):
    with raises_input_error(f"options.{name}", "finite number"):
        jobs.validate_options(fitter, {name: value})


@pytest.mark.parametrize("name", ["init", "outliers"])
@pytest.mark.parametrize("value", ["bogus", "EPS", "", 1, None])
def test_dream_bad_choice(name, value):
    choices = {"init": "eps, lhs, cov, random", "outliers": "none, iqr, grubbs, mahal"}[name]
    with raises_input_error(f"options.{name}", choices, repr(value)):
        jobs.validate_options("dream", {name: value})


@pytest.mark.parametrize("fitter", ["de", "pt"])
@pytest.mark.parametrize("cr", [-0.01, 1.01, 2, -1])
def test_cr_outside_unit_interval(fitter, cr):
    with raises_input_error("options.CR", "between 0 and 1"):
        jobs.validate_options(fitter, {"CR": cr})


@pytest.mark.parametrize(
    ("fitter", "name", "value", "fragment"),
    [
        ("dream", "thin", 0, "1 or more"),
        ("amoeba", "starts", 0, "1 or more"),
        ("pt", "nT", 0, "1 or more"),
        ("amoeba", "radius", 0, "above 0"),
        ("pt", "Tmin", 0, "above 0"),
        ("pt", "Tmax", -1, "above 0"),
        ("lm", "xtol", -1e-9, "0 or more"),
        ("lm", "ftol", -1, "0 or more"),
        ("dream", "alpha", -0.1, "0 or more"),
        ("amoeba", "jump", -0.5, "0 or more"),
    ],
)
def test_ranges(fitter, name, value, fragment):
    with raises_input_error(f"options.{name}", fragment):
        jobs.validate_options(fitter, {name: value})


@pytest.mark.parametrize(
    ("fitter", "options"),
    [
        ("amoeba", {"steps": 0}),
        ("lm", {"xtol": 0}),
        ("lm", {"ftol": 0.0}),
        ("lm", {"jump": 0}),
        ("amoeba", {"starts": 1}),
        ("dream", {"thin": 1, "alpha": 0}),
    ],
)
def test_range_edges_accepted(fitter, options):
    assert jobs.validate_options(fitter, options) == options


@pytest.mark.parametrize("name", ["steps", "max_time"])
def test_huge_integer_is_an_input_error(name):
    with pytest.raises(JobInputError):
        jobs.validate_options("lm", {name: 10**400})


@pytest.mark.parametrize("fitter", ["de", "dream"])
def test_zero_population_rejected(fitter):
    with pytest.raises(JobInputError):
        jobs.validate_options(fitter, {"pop": 0})


def test_dream_zero_samples_without_steps_rejected():
    with pytest.raises(JobInputError):
        jobs.validate_options("dream", {"samples": 0})


# --- common options -------------------------------------------------------------------------


@pytest.mark.parametrize("fitter", ALL_FITTERS)
def test_common_options_for_every_fitter(fitter):
    clean = jobs.validate_options(fitter, {"parallel": 2, "max_time": 30})
    assert clean == {"parallel": 2, "max_time": 30.0}
    assert type(clean["max_time"]) is float


@pytest.mark.parametrize("value", [0, 1, 1024])
def test_parallel_accepts(value):
    assert jobs.validate_options("dream", {"parallel": value}) == {"parallel": value}


@pytest.mark.parametrize("value", [-1, 1025, 2.0, True, "2", None, math.nan])
def test_parallel_rejects(value):
    with raises_input_error("options.parallel", "integer from 0", "1024"):
        jobs.validate_options("dream", {"parallel": value})


@pytest.mark.parametrize("value", [0.5, 1, 3600, 1e6])
def test_max_time_accepts(value):
    assert jobs.validate_options("lm", {"max_time": value}) == {"max_time": float(value)}


@pytest.mark.parametrize("value", [True, "10", None, math.nan, math.inf, [1]])
def test_max_time_rejects_non_numbers(value):
    with raises_input_error("options.max_time", "number of seconds"):
        jobs.validate_options("lm", {"max_time": value})


@pytest.mark.parametrize("value", [0, -1, -0.5])
def test_max_time_must_be_positive(value):
    with raises_input_error("options.max_time", "positive"):
        jobs.validate_options("lm", {"max_time": value})


# --- seed, name, tags -----------------------------------------------------------------------


def test_seed_none_draws_a_fresh_seed_in_range():
    seeds = [jobs.validate_seed(None) for _ in range(20)]
    assert all(isinstance(s, int) and 0 <= s <= jobs.MAX_SEED for s in seeds)
    assert len(set(seeds)) > 1


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**32 - 1])
def test_seed_accepts(seed):
    assert jobs.validate_seed(seed) == seed


@pytest.mark.parametrize("seed", [-1, 2**32, 1.0, True, "5", [1]])
def test_seed_rejects(seed):
    with raises_input_error("seed", str(jobs.MAX_SEED)):
        jobs.validate_seed(seed)


def test_name_defaults_and_accepts():
    assert jobs.validate_name(None, "fit 1") == "fit 1"
    assert jobs.validate_name("", "fit 1") == "fit 1"
    assert jobs.validate_name("my fit", "fit 1") == "my fit"
    assert jobs.validate_name("x" * jobs.MAX_NAME_LENGTH, "d") == "x" * jobs.MAX_NAME_LENGTH


@pytest.mark.parametrize("name", ["x" * 201, 5, ["a"], {"a": 1}, True])
def test_name_rejects(name):
    with raises_input_error("name", "200"):
        jobs.validate_name(name, "default")


def test_tags_default_dedupe_and_keep_order():
    assert jobs.validate_tags(None) == []
    assert jobs.validate_tags([]) == []
    assert jobs.validate_tags(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]
    many = [f"t{i}" for i in range(jobs.MAX_TAGS)]
    assert jobs.validate_tags(many) == many
    assert jobs.validate_tags(["x" * 64]) == ["x" * 64]


def test_tags_returns_a_new_list():
    tags = ["a"]
    assert jobs.validate_tags(tags) is not tags


@pytest.mark.parametrize("tags", ["a", ("a",), {"a": 1}, [f"t{i}" for i in range(33)]])
def test_tags_must_be_a_short_list(tags):
    with raises_input_error("tags", "list", "32"):
        jobs.validate_tags(tags)


@pytest.mark.parametrize("tag", ["", "x" * 65, 1, None, ["a"]])
def test_each_tag_must_be_a_short_string(tag):
    with raises_input_error("tags", "1 to 64"):
        jobs.validate_tags(["ok", tag])


# --- max_steps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fitter", "expected"),
    [("amoeba", 1000), ("lm", 200), ("newton", 3000), ("de", 1000), ("pt", 400)],
)
def test_max_steps_defaults(fitter, expected):
    assert jobs.max_steps(fitter, {}) == expected


def test_max_steps_lm_is_steps_times_starts():
    assert jobs.max_steps("lm", {"steps": 50}) == 50
    assert jobs.max_steps("lm", {"steps": 50, "starts": 3}) == 150
    assert jobs.max_steps("lm", {"steps": 50, "starts": 3, "max_time": 5}) == 150


def test_max_steps_dream_from_samples():
    problem = gaussian_problem()  # 3 fitted parameters
    # pop 10 x 3 = 30 chains; 10000 samples -> 334 generations, + 100 burn = 434,
    # rounded up to 1 + a multiple of DE_steps (10): 441.
    assert jobs.max_steps("dream", {}, problem) == 441
    # 3000 samples / 30 chains -> 100 generations, + 50 burn = 150 -> 151.
    assert jobs.max_steps("dream", {"samples": 3000, "burn": 50}, problem) == 151
    # A negative pop is an absolute population: 5 chains, 100 samples -> 20 generations.
    assert jobs.max_steps("dream", {"pop": -5, "samples": 100, "burn": 0}, problem) == 21


def test_max_steps_dream_steps_overrides_samples():
    problem = gaussian_problem()
    assert jobs.max_steps("dream", {"steps": 200}, problem) == 301
    assert jobs.max_steps("dream", {"steps": 200, "samples": 5}, problem) == 301
    assert jobs.max_steps("dream", {"steps": 200, "parallel": 2, "max_time": 9}, problem) == 301


def test_max_steps_dream_without_problem_is_unknown():
    assert jobs.max_steps("dream", {}) == 0
