"""`make bench`: run every benchmark in turn; each writes its section of BENCHMARKS.md.

`python -m bench --smoke` runs them all at a small size instead, writing nothing; the suite runs
each so (tests/test_benchmarks_run.py), so that one which breaks fails CI."""

import subprocess
import sys

BENCHMARKS = [
    "bench.synthetic",
    "bench.ingest",
    "bench.ingest_bridge",
    "bench.redaction",
    "bench.linkage_quality",
    "bench.linkage_shapes",
    "bench.linkage_speed",
    "bench.summary_load",
    "bench.enrich",
    "bench.erasure",
]
# summary_load and enrich read the 1M-record database bench.linkage_speed has just left, rather
# than loading it again for another quarter of an hour each.
EXTRA_ARGUMENTS = {"bench.summary_load": ["--reuse"], "bench.enrich": ["--reuse"]}


def main() -> int:
    failed = []
    for module in BENCHMARKS:
        print(f"\n=== {module}", flush=True)
        command = [sys.executable, "-m", module, *EXTRA_ARGUMENTS.get(module, []), *sys.argv[1:]]
        if subprocess.run(command).returncode:  # noqa: S603
            failed.append(module)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
