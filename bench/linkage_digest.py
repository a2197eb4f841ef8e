"""A digest of what linkage decides, to show a change that should alter nothing altered nothing.

Run: python -m bench.linkage_digest [--people N] [--sets NAME ...] [--smoke]. Loads three sets
(or those named) through the production path (upload, ingest, linkage after each extract; then a
full re-link) in child processes on fresh SQLite databases with one fixed linkage key, and prints
one SHA-256 per set over:
- the persons, each as the sorted list of its (agency, record id) pairs, the list sorted (person
  ids themselves depend on insertion order, so they are left out);
- every extract's outcome (status, counts, repairs, message);
- the last linkage run's figures, without its timings.
Run it on the commit before a restructuring and on the commit after: the digests must be equal.
No target; nothing is written to BENCHMARKS.md.
"""

import argparse
import hashlib
import json
import os
from pathlib import Path

from bench.common import ROOT, arguments
from bench.linkage_runner import synthetic_set
from bench.linkage_sets import set_build
from bench.linkage_shapes import sharehub_run

# A fixed key, so two runs differ only in the code (any key gives the same persons; this makes
# the figures that count hash collisions comparable too).
DIGEST_LINKAGE_KEY = "1:bGlua2FnZS1kaWdlc3QtZml4ZWQta2V5LTMyYnl0ZXM="  # noqa: S105
# The sets, and whether a full re-link follows their loading.
SETS = {"synthetic": True, "everything": True, "first_no_duplicates": False}
_TIMING_WORDS = ("second", "seconds", "_ms", "duration", "started", "finished", "rss")


def _untimed(value):
    if isinstance(value, dict):
        return {
            key: _untimed(item)
            for key, item in sorted(value.items())
            if not any(word in key for word in _TIMING_WORDS)
        }
    if isinstance(value, list):
        return [_untimed(item) for item in value]
    return value


def result_digest(result: dict) -> tuple[str, dict]:
    """The digest of one child run, and the canonical document it hashes (for a diff)."""
    persons: dict[int, list] = {}
    for agency, source_id, person in result["predicted"]:
        persons.setdefault(person, []).append([agency, source_id])
    canonical = {
        "persons": sorted(sorted(members) for members in persons.values()),
        "unlinked": sorted(
            [agency, source_id] for agency, source_id, person in result["predicted"] if not person
        ),
        "extracts": _untimed(
            result.get("extract_outcomes")
            or [{k: e[k] for k in ("file", "status", "rows")} for e in result["extracts"]]
        ),
        "last_run": _untimed(
            (result.get("last_run") or {}).get("figures")
            or (result.get("full_rerun") or {}).get("figures")
        ),
        "review_items_open": result.get("review_items_open"),
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest(), canonical


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--keep", type=Path, help="write each canonical document here, to diff")
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    args = arguments(parser, smoke_sizes={"people": 150, "sets": ["everything"]})
    for name in args.sets:
        label = f"{name}-{args.people}"
        if name == "synthetic":
            directory = synthetic_set(args.people)
        else:
            directory = set_build(name, people=args.people)
        digest, canonical = result_digest(
            sharehub_run(
                directory,
                label=f"digest-{label}",
                linkage_key=DIGEST_LINKAGE_KEY,
                full_rerun=SETS[name],
            )
        )
        print(
            f"{label}: {digest} ({len(canonical['persons']):,} persons, "
            f"{len(canonical['unlinked']):,} records without one)",
            flush=True,
        )
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            (args.keep / f"{label}.json").write_text(json.dumps(canonical, indent=1))


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
