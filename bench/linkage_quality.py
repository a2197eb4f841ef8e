"""Linkage quality against the synthetic ground truth, with Splink side by side.

Run: python -m bench.linkage_quality [--people 100000] [--database sqlite|postgres] [--no-splink]
[--smoke]. Targets (issue 4): pairwise precision at least 0.995 and recall at least 0.99 on
100,000 people in five agencies; also reported with every NHS number removed.

ShareHub's figures are for the production path: each extract uploaded, ingested and linked
incrementally in turn (the person ids after the fifth extract), then a full re-link. Splink
(DuckDB, plaintext, bench/splink_baseline.py) links the same files in the same run.
"""

import argparse

from bench.common import arguments, record
from bench.linkage_metrics import format_table, ground_truth_load, pairwise_scores
from bench.linkage_runner import child_run, predicted_clusters, synthetic_set


def _row(name: str, scores: dict, seconds: float) -> dict:
    return {
        "linker": name,
        "precision": f"{scores['precision']:.4f}",
        "recall": f"{scores['recall']:.4f}",
        "F1": f"{scores['f1']:.4f}",
        "cluster precision": f"{scores['cluster_precision']:.4f}",
        "cluster recall": f"{scores['cluster_recall']:.4f}",
        "seconds": f"{seconds:.0f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--database", default="sqlite")
    parser.add_argument(
        "--no-splink", action="store_true", help="ShareHub alone (Splink is in bench.lock only)"
    )
    args = arguments(parser, smoke_sizes={"people": 150})
    rows, notes = [], []
    for without_nhs in (False, True):
        population = synthetic_set(args.people, without_nhs=without_nhs)
        truth = ground_truth_load(population)
        suffix = " (no NHS numbers)" if without_nhs else ""
        label = f"quality-{args.people}{'-no-nhs' if without_nhs else ''}"
        print(f"ShareHub on {population.name} ({args.database})...", flush=True)
        result = child_run(population, database=args.database, label=label, full_rerun=True)
        incremental = pairwise_scores(predicted_clusters(result), truth)
        ingest = sum(e["ingest_seconds"] for e in result["extracts"])
        link = sum(e["link_seconds"] for e in result["extracts"])
        rows.append(_row(f"ShareHub, incremental{suffix}", incremental, ingest + link))
        print(rows[-1], flush=True)
        if result.get("full_rerun"):
            notes.append(
                f"full re-link{suffix}: {result['full_rerun']['seconds']:.0f} s, "
                f"{result['full_rerun']['figures'].get('candidate_pairs', 0):,} candidate pairs"
            )
        if args.no_splink:
            continue
        from bench.splink_baseline import splink_link

        predicted, seconds, _details = splink_link(population)
        splink = pairwise_scores(predicted, truth)
        rows.append(_row(f"Splink 0.9{suffix}", splink, seconds))
        print(rows[-1], flush=True)
        notes.append(
            f"ratio ShareHub/Splink{suffix}: precision "
            f"{incremental['precision'] / splink['precision']:.3f}, recall "
            f"{incremental['recall'] / splink['recall']:.3f}, time "
            f"{(ingest + link) / seconds:.1f}x (ShareHub's time includes ingest and sealing)"
        )
    table = format_table(rows)
    print(table)
    record(
        "Linkage quality",
        f"""
`python -m bench.linkage_quality --people {args.people} --database {args.database}` (part of
`make bench`). {args.people:,} synthetic people (seed 1) in five agencies' extracts, loaded through
the production path (upload, ingest, linkage after each extract); scored against
ground_truth.csv over record pairs implied by the person clusters (bench/linkage_metrics.py),
and as clusters (a cluster is right when it is exactly one person's records). Splink 5 (DuckDB,
plaintext, threshold 0.9, bench/splink_baseline.py) on the same files in the same run. Targets:
precision >= 0.995, recall >= 0.99.

{table}

{chr(10).join("- " + note for note in notes)}
""",
    )


if __name__ == "__main__":
    main()
