"""Synthetic population generation: 100,000 people (target: under a minute), time and peak RSS.

Run: python -m bench.synthetic [--people N] [--smoke]. Generation runs in a child process so its
peak RSS is its own.
"""

import argparse
import json
import os
import subprocess
import sys
import time

from bench.common import OUT, ROOT, arguments, record

CHILD = """
import json, os, sys, time, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sharehub.settings")
django.setup()
from pathlib import Path
from synthetic.services import synthetic_population_write
from bench.common import peak_rss_mb
start = time.perf_counter()
summary = synthetic_population_write(people=int(sys.argv[1]), seed=1, out_dir=Path(sys.argv[2]))
seconds = time.perf_counter() - start
rows = sum(d.rows for d in summary.datasets)
print(json.dumps({"seconds": seconds, "rows": rows, "peak_rss_mb": peak_rss_mb()}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=100_000)
    args = arguments(parser, smoke_sizes={"people": 200})
    out_dir = OUT / f"synthetic-{args.people}"
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", CHILD, str(args.people), str(out_dir)],
        cwd=ROOT, capture_output=True, text=True, check=True,
        env={**os.environ, "SHAREHUB_LOG_LEVEL": "WARNING"},
    )  # fmt: skip
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    wall = time.perf_counter() - started
    row = (
        f"| {args.people:,} | {figures['rows']:,} | {figures['seconds']:.1f} | "
        f"{figures['peak_rss_mb']:.0f} MB | < 60 s |"
    )
    line = (
        f"{args.people:,} people -> {figures['rows']:,} extract rows in "
        f"{figures['seconds']:.1f} s (process wall {wall:.1f} s), peak RSS "
        f"{figures['peak_rss_mb']:.0f} MB. Target: under 60 s."
    )
    print(line)
    record(
        "Synthetic population",
        f"""
`python -m bench.synthetic --people {args.people}` (part of `make bench`): `make_synthetic`'s
service writing five agency extracts and the ground truth for seed 1, timed inside a child
process; peak RSS is that process's `ru_maxrss`.

| people | extract rows | seconds | peak RSS | target |
| --- | --- | --- | --- | --- |
{row}
""",
    )


if __name__ == "__main__":
    main()
