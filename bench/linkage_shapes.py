"""Linkage on agency shapes our generator does not produce and on public sets, beside Splink.

Run: python -m bench.linkage_shapes [--sets NAME ...] [--people 3000] [--orders-people 1200]
[--orders N] [--no-splink] [--smoke] (part of `make bench`). Each set of bench.linkage_sets is
loaded through the production path (define the datasets, upload each extract, ingest, link after
each, in-process on a fresh SQLite database: bench.linkage_child) in the manifest's order, and
the persons read back; plaintext Splink (bench.splink_baseline) links the same files in the same
run at two thresholds. Both are scored over record pairs implied by the clusters
(bench.linkage_metrics), overall, per pair of agencies, and on pairs of different people in one
household. Then every load order of one set's agencies (or the first `--orders`), and all of
them at once, to show the result does not depend on the order.

Targets (issue 19): F1 >= 0.97 on every shape, each agency pair's recall >= 0.93 and precision
>= 0.98, household precision >= 0.98, F1 between load orders within 0.005 (pairs differing by
at most 0.5%), at most 1 review item per 100 records, and above Splink in every row.
"""

import argparse
import base64
import csv
import itertools
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

from bench.common import OUT, ROOT, arguments, fresh_sqlite, record
from bench.linkage_metrics import (
    agency_pair_scores,
    format_table,
    household_precision,
    pairwise_scores,
)
from bench.linkage_sets import GENERATOR_SHAPES, set_build

DEFAULT_SETS = (
    *GENERATOR_SHAPES, "pseudopeople", "febrl1", "febrl2", "febrl3", "febrl4", "blind",
)  # fmt: skip
SPLINK_THRESHOLDS = (0.9, 0.99)
ORDERS_SET = "everything"


def _truth(directory: Path) -> tuple[dict, dict]:
    truth, household = {}, {}
    with (directory / "ground_truth.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            key = (row["agency"], row["source_record_id"])
            truth[key] = row["person_id"]
            household[key] = row["household_id"]
    return truth, household


def sharehub_run(
    directory: Path,
    *,
    label: str,
    order: list[str] | None = None,
    at_once=False,
    linkage_key: str | None = None,
    full_rerun=False,
):
    """Load and link a set in a child process on a fresh SQLite database; its JSON result.
    Runs given one linkage key hash alike, so only the load order differs between them.
    `full_rerun`: a full re-link follows the last extract (bench.linkage_digest)."""
    var_dir = OUT / f"var-shapes-{label}"
    fresh_sqlite(var_dir)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")} | {
        "SHAREHUB_VAR_DIR": str(var_dir),
        "SHAREHUB_LOG_LEVEL": "WARNING",
    }
    if linkage_key:
        env["SHAREHUB_LINKAGE_KEY"] = linkage_key
    out = var_dir / "result.json"
    command = [sys.executable, "-m", "bench.linkage_child", str(directory), "--out", str(out)]
    if order:
        command += ["--order", ",".join(order)]
    if at_once:
        command.append("--at-once")
    if full_rerun:
        command.append("--full-rerun")
    completed = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
    if completed.returncode:
        raise SystemExit(f"linkage child run {label} failed")
    return json.loads(out.read_text())


def _predicted(result: dict) -> dict:
    return {
        (agency, source_id): person for agency, source_id, person in result["predicted"] if person
    }


def _row(linker: str, scores: dict, household: dict, seconds: float, review=None) -> dict:
    row = {
        "linker": linker,
        "precision": scores["precision"],
        "recall": scores["recall"],
        "F1": scores["f1"],
        "household precision": household["precision"],
        "seconds": f"{seconds:.0f}",
    }
    if review is not None:
        row["review per 100"] = f"{100 * review / max(scores['records'], 1):.2f}"
    return row


def _named(pairs: dict) -> dict:
    return {" - ".join(pair): figures for pair, figures in pairs.items()}


def set_score(name: str, people: int, *, splink: bool = True) -> dict:
    """ShareHub and Splink on one set: the rows for BENCHMARKS.md and the figures behind them.
    ShareHub alone when not `splink`."""
    directory = set_build(name, people=people)
    truth, household = _truth(directory)
    print(f"== {name}: {len(truth):,} records", flush=True)
    started = time.perf_counter()
    result = sharehub_run(directory, label=name)
    seconds = time.perf_counter() - started
    predicted = _predicted(result)
    scores = pairwise_scores(predicted, truth)
    linkers = {
        "ShareHub": {
            "scores": scores,
            "pairs": _named(agency_pair_scores(predicted, truth)),
            "household": household_precision(predicted, truth, household),
            "seconds": seconds,
            "review": result["review_items_open"],
        }
    }
    for threshold in SPLINK_THRESHOLDS if splink else ():
        from bench.splink_baseline import splink_link

        splink_predicted, splink_seconds, _ = splink_link(
            directory, threshold_probability=threshold
        )
        linkers[f"Splink {threshold}"] = {
            "scores": pairwise_scores(splink_predicted, truth),
            "pairs": _named(agency_pair_scores(splink_predicted, truth)),
            "household": household_precision(splink_predicted, truth, household),
            "seconds": splink_seconds,
        }
    for linker, found in linkers.items():
        print(
            f"   {linker}: P {found['scores']['precision']:.4f} R {found['scores']['recall']:.4f}"
            f" F1 {found['scores']['f1']:.4f} ({found['seconds']:.0f} s)",
            flush=True,
        )
    repairs: dict[str, int] = {}
    for outcome in result.get("extract_outcomes", []):
        for kind, count in outcome.get("repairs", {}).get("date_of_birth", {}).items():
            repairs[kind] = repairs.get(kind, 0) + count
    return {
        "name": name,
        "records": len(truth),
        "set_aside": sum(o["rows_quarantined"] for o in result["extract_outcomes"]),
        "repairs": repairs,
        "linkers": linkers,
        "model": (result.get("last_run") or {}).get("figures", {}),
    }


def orders_score(people: int, *, limit: int | None = None) -> dict:
    """Every load order of one set's agencies (the first `limit` of them when given), and all of
    them at once."""
    directory = set_build(ORDERS_SET, people=people)
    truth, _ = _truth(directory)
    agencies = [
        d["agency"] for d in json.loads((directory / "manifest.json").read_text())["datasets"]
    ]
    # One key for every order: each keyed hash, and so the sample the model's u values come
    # from, is then the same, and any difference left is the load order's alone.
    key = "1:" + base64.b64encode(secrets.token_bytes(32)).decode()
    runs = {}
    orders = itertools.islice(itertools.permutations(agencies), limit)
    for number, order in enumerate(orders):
        result = sharehub_run(
            directory, label=f"orders-{number}", order=list(order), linkage_key=key
        )
        runs[" > ".join(order)] = _predicted(result)
        print(f"   order {number + 1}: {' > '.join(order)}", flush=True)
    runs["all at once"] = _predicted(
        sharehub_run(directory, label="orders-at-once", at_once=True, linkage_key=key)
    )
    f1 = {order: pairwise_scores(predicted, truth)["f1"] for order, predicted in runs.items()}
    pairs = {order: _pair_set(predicted) for order, predicted in runs.items()}
    first = next(iter(pairs.values()))
    differing = {
        order: len(found ^ first) / max(len(found | first), 1) for order, found in pairs.items()
    }
    return {
        "set": f"{ORDERS_SET}-{people}",
        "records": len(truth),
        "orders": len(runs),
        "f1_min": min(f1.values()),
        "f1_max": max(f1.values()),
        "pairs_differing_max": max(differing.values()),
        "f1": f1,
    }


def _pair_set(predicted: dict) -> set:
    clusters: dict = {}
    for key, person in predicted.items():
        clusters.setdefault(person, []).append(key)
    return {
        (a, b) if a < b else (b, a)
        for members in clusters.values()
        for a, b in itertools.combinations(members, 2)
    }


def _p_r(figures: dict) -> str:
    return f"{figures['precision']:.3f} / {figures['recall']:.3f}"


def _markdown(results: list[dict], orders: dict | None, people: int) -> str:
    summary = []
    for found in results:
        best_splink = max(
            (v["scores"]["f1"] for k, v in found["linkers"].items() if k.startswith("Splink")),
            default=None,
        )
        for linker, figures in found["linkers"].items():
            row = {"set": found["name"], "records": found["records"]}
            row |= _row(
                linker,
                figures["scores"],
                figures["household"],
                figures["seconds"],
                figures.get("review"),
            )
            if linker == "ShareHub":
                row["set aside"] = found["set_aside"]
                row["above best Splink"] = (
                    "-" if best_splink is None else figures["scores"]["f1"] > best_splink
                )
            summary.append(row)
    columns = [
        "set", "records", "linker", "precision", "recall", "F1", "household precision",
        "review per 100", "set aside", "above best Splink", "seconds",
    ]  # fmt: skip
    pair_rows = []
    for found in results:
        sharehub = found["linkers"]["ShareHub"]["pairs"]
        splink = found["linkers"].get("Splink 0.99", {}).get("pairs", {})
        splink_low = found["linkers"].get("Splink 0.9", {}).get("pairs", {})
        for pair, figures in sharehub.items():
            if figures["true_pairs"] < 20:
                continue  # a handful of pairs says nothing
            pair_rows.append(
                {
                    "set": found["name"],
                    "agencies": pair,
                    "true pairs": figures["true_pairs"],
                    "ShareHub precision": figures["precision"],
                    "ShareHub recall": figures["recall"],
                    "Splink 0.9 P / R": _p_r(splink_low[pair]) if pair in splink_low else "-",
                    "Splink 0.99 P / R": _p_r(splink[pair]) if pair in splink else "-",
                }
            )
    repairs = [
        f"- {found['name']}: "
        + ", ".join(f"{kind} {count:,}" for kind, count in sorted(found["repairs"].items()))
        for found in results
        if found["repairs"]
    ]
    text = f"""
`python -m bench.linkage_shapes --people {people}` (part of `make bench`). Each set
(bench/linkage_sets.py) is loaded through the production path (dataset definitions, uploads,
ingest, linkage after each extract, in one process on a fresh SQLite database) in the order its
manifest gives, and read back as persons. Plaintext Splink 5 (bench/splink_baseline.py, its
comparisons and blocking rules over whichever identifiers a set has) links the same files in the
same run at thresholds 0.9 and 0.99. Scores are over record pairs implied by the clusters;
household precision is precision over predicted pairs whose records belong to one true household
(empty for sets without households). "Above best Splink" compares F1 with the better of Splink's
two thresholds. Generator shapes are {people:,} people of our own generator (seed 1) reshaped:
no date of birth in two agencies, damaged dates of birth, no postcodes, a first agency with one
record per person, and all of these at once. pseudopeople is the IHME package's bundled sample
(noised by the package) as four agencies; FEBRL 1-3 are dealt at random to three agencies,
FEBRL 4 is its two files.

{format_table(summary, columns)}

Per pair of agencies (pairs with at least 20 true pairs):

{format_table(pair_rows)}

Dates of birth repaired at loading, by kind (records loaded, never set aside):

{chr(10).join(repairs) if repairs else "- none"}
"""
    if orders:
        text += f"""
Load order: the {orders["set"]} set ({orders["records"]:,} records) loaded in each of the
{orders["orders"] - 1} orders of its agencies and all at once: F1 from {orders["f1_min"]:.4f}
to {orders["f1_max"]:.4f} (spread {orders["f1_max"] - orders["f1_min"]:.4f}); at most
{orders["pairs_differing_max"]:.2%} of linked pairs differ from the first order's.
"""
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="*", default=list(DEFAULT_SETS))
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--orders-people", type=int, default=1200)
    parser.add_argument("--no-orders", action="store_true")
    parser.add_argument("--orders", type=int, help="at most this many load orders (default: all)")
    parser.add_argument(
        "--no-splink", action="store_true", help="ShareHub alone (Splink is in bench.lock only)"
    )
    parser.add_argument("--no-record", action="store_true", help="do not write BENCHMARKS.md")
    args = arguments(
        parser,
        smoke_sizes={"sets": ["everything"], "people": 150, "orders_people": 100, "orders": 1},
    )
    results = [set_score(name, args.people, splink=not args.no_splink) for name in args.sets]
    orders = None if args.no_orders else orders_score(args.orders_people, limit=args.orders)
    (OUT / "linkage_shapes.json").write_text(
        json.dumps({"results": results, "orders": orders}, indent=1, default=str)
    )
    text = _markdown(results, orders, args.people)
    print(text)
    if not args.no_record and set(args.sets) == set(DEFAULT_SETS):
        record("Linkage on agency shapes and public sets (issue 19)", text)


if __name__ == "__main__":
    main()
