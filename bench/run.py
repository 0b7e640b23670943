"""Run the benchmarks side by side in one run and print their table.

    ./run bench [--quick]                  every measure (bench/README.md)
    python bench/run.py [--quick] NAME...  only these measures, e.g. `sweep dream_fit`

One private Redis, one `bumps-remote worker` of 2 processes and one `jupyter server` in
shared mode serve every measure (services.Base); a measure starts whatever else it compares
against and stops it. A full run rewrites docs/benchmarks.md (`--no-write`: it does not).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import textwrap
import time

import services
from report import Row, machine, table

# One module per measure, in the order they run: each has TITLE, METHOD and
# `measure(base, quick) -> list[Row]`.
MEASURES = (
    "fit_latency",
    "dream_fit",
    "server_latency",
    "submit_lag",
    "sweep",
    "sweep_medium",
    "scale_out",
    "history",
    "footprint",
)
DOC = services.REPO / "docs" / "benchmarks.md"
# A section written by hand (a change measured before and after it): a rewrite keeps it
KEPT = "## Before and after a change"
# how long a run takes here (bench/README.md says the same): measured, not computed
FULL_MINUTES, QUICK_MINUTES = "ten", "two"


def kept_section(page: str) -> str:
    """The hand-written section of the page as it is, up to the next section; "" if none."""
    start = page.find(KEPT)
    if start < 0:
        return ""
    end = page.find("\n## ", start + len(KEPT))
    return page[start : end if end >= 0 else len(page)].rstrip() + "\n\n"


def document(
    rows: list[Row],
    methods: list[tuple[str, str]],
    info: dict,
    quick: bool,
    elapsed: float,
    kept: str = "",
) -> str:
    method = "\n".join(
        textwrap.fill(f"- **{title}**: {text}", 92, subsequent_indent="  ", break_on_hyphens=False)
        for title, text in methods
    )
    busy = max(info["load_start"], info["load_end"]) > (os.cpu_count() or 1) / 2
    noise = (
        "**The machine was shared** with other work, so each figure is noisy"
        if busy
        else "Other work on the machine adds noise"
    )
    run = textwrap.fill(
        f"Run of {info['date']} (commit {info['commit']}, {'`--quick`, ' if quick else ''}"
        f"{elapsed / 60:.0f} min) on {info['cpus']}. {noise} (load average over 1 minute "
        f"{info['load_start']:.1f} at the start, {info['load_end']:.1f} at the end): the p95s "
        "and the pair-by-pair spreads say by how much.",
        92,
    )
    return f"""# Benchmarks

What sending a fit away costs against fitting in the kernel, and what the server and the
worker cost, each beside its anchors, measured side by side in one run of `./run bench` on
one machine: compare figures within the table, not across machines. A figure indented under
another is shown for comparison; the last column gives the cause of a miss, or the floor
that no design keeping the project's contract ([design](design.md),
[reliability](reliability.md)) goes below on this machine.

The rows marked #17.1 to #17.5 are the five targets of the [perf] issue (#17), as it states
them: (1) a sweep of 200 and of 2,000 tiny fits with `submit_many`, from the submit to every
result in the kernel, no slower than ipyparallel's `map_sync` on as many engines as the
worker has processes; (2) a sweep of fits of ~50–100 ms at least 1.7× faster than the same
fits one after the other in the kernel, with 2 worker processes; (3) a DREAM fit of 3 s or
more locally: remote / local ≤ 1.03, by interleaved pairs, with their spread; (4) a tiny
fit's `submit(...).result()`: remote − local within 5 ms of the contract's floor; (5) a
sweep's `results()` and `table()` in one request, not one per member.

{run}

{table(rows)}

{kept}## Method

All on 127.0.0.1: a private `redis-server` (AOF on, as in the tests), a `bumps-remote worker`
of 2 processes, a `jupyter server` (token auth) with the extension in shared mode and the
default per-user limits, the kernel API (`jupyter_bumps_remote.connect`) in the bench
process. Remote and local runs alternate so that the machine's drifting load hits both;
warm-up runs are left out; p50 and p95 are of each series.

{method}

Python {info["python"]}, {info["versions"]},
redis-server {info["redis_server"]}.

## How to reproduce

```sh no-run
./run bench            # every measure, about {FULL_MINUTES} minutes; rewrites this page
./run bench --quick    # a smoke run of every measure, about {QUICK_MINUTES} minutes
.venv/bin/python bench/run.py --quick sweep     # one measure (names in bench/README.md)
```
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer and smaller runs")
    parser.add_argument(
        "--write",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="rewrite docs/benchmarks.md (default: on a full run of all)",
    )
    parser.add_argument(
        "measures", nargs="*", metavar="NAME", help=f"only these: {', '.join(MEASURES)}"
    )
    args = parser.parse_args(argv)
    unknown = set(args.measures) - set(MEASURES)
    if unknown:
        parser.error(f"no measure {', '.join(sorted(unknown))}: choose from {', '.join(MEASURES)}")
    names = args.measures or list(MEASURES)
    write = args.write if args.write is not None else not args.quick and not args.measures
    services.stop_on_sigterm()
    services.quiet_fits()
    info, started = machine(), time.monotonic()
    info["load_start"] = os.getloadavg()[0]
    rows: list[Row] = []
    methods = []
    with services.Base.running() as base:
        for name in names:
            module = importlib.import_module(name)
            print(f"[{time.monotonic() - started:5.0f} s] {module.TITLE}", file=sys.stderr)
            rows += module.measure(base, args.quick)
            methods.append((module.TITLE, module.METHOD))
    elapsed = time.monotonic() - started
    info["load_end"] = os.getloadavg()[0]
    print(table(rows))
    if write:
        kept = kept_section(DOC.read_text()) if DOC.exists() else ""
        DOC.write_text(document(rows, methods, info, args.quick, elapsed, kept))
        print(f"wrote {DOC.relative_to(services.REPO)}", file=sys.stderr)
    print(f"done in {elapsed:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
