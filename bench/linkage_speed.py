"""Linkage speed on PostgreSQL: 1,000,000 records end to end, then a 10,000-record extract.

Run: python -m bench.linkage_speed [--records 1000000] [--smoke]. Targets (issue 4), this 2-core
machine: 1,000,000 records across five agencies ingested, pseudonymised and linked end to end in
under 15 minutes; a 10,000-record extract linked against them in under 60 seconds.

Ingest, linkage and the enrichment that follows each extract on the embedded default are timed
apart (bench.linkage_child): linkage and enrichment by their runs' own start and finish, ingest
as the rest of the upload's time.
"""

import argparse

from bench.common import SMOKE_RECORDS, arguments, record
from bench.linkage_runner import RECORDS_PER_PERSON, child_run, delta_extract, synthetic_set

STAGES = ("keys", "load", "model_estimate", "region", "candidates", "scoring", "clustering",
          "persons", "households")  # fmt: skip


def _stage_table(runs: list[dict]) -> str:
    lines = ["| stage | seconds | records or pairs/s |", "| --- | --- | --- |"]
    for stage in STAGES:
        seconds = sum(run.get(f"{stage}_seconds", 0) for run in runs)
        if stage == "keys":
            volume = sum(run.get("records_keyed", 0) for run in runs)
        elif stage in ("candidates", "scoring"):
            volume = sum(run.get("candidate_pairs", 0) for run in runs)
        else:
            volume = sum(run.get("region_records", 0) for run in runs)
        rate = f"{volume / seconds:,.0f}" if seconds else "-"
        lines.append(f"| {stage} | {seconds:.1f} | {rate} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--delta", type=int, default=10_000)
    args = arguments(parser, smoke_sizes={"records": SMOKE_RECORDS, "delta": 50})
    people = int(args.records / RECORDS_PER_PERSON)
    population = synthetic_set(people)
    delta = delta_extract(population, args.delta)
    result = child_run(population, database="postgres", label=f"speed-{people}", delta=delta)
    records = sum(e["rows"] for e in result["extracts"])
    runs = [figures for e in result["extracts"] for figures in e["runs"]]
    ingest = sum(e["ingest_seconds"] for e in result["extracts"])
    link = sum(e["link_seconds"] for e in result["extracts"])
    enrich = sum(e["enrich_seconds"] for e in result["extracts"])
    d = result["delta"]
    lines = [
        f"end to end: {records:,} records in {result['end_to_end_seconds']:.0f} s "
        f"(ingest {ingest:.0f} s, linkage {link:.0f} s, enrichment {enrich:.0f} s) = "
        f"{records / result['end_to_end_seconds']:,.0f} records/s; target < 900 s",
        f"{d['rows']:,}-record extract: ingest {d['ingest_seconds']:.1f} s, linked against "
        f"{records:,} in {d['link_seconds']:.1f} s, enrichment {d['enrich_seconds']:.1f} s; "
        f"total {d['seconds']:.1f} s; target < 60 s",
        f"peak RSS {result['peak_rss_mb']:.0f} MB",
    ]
    print("\n".join(lines))
    extracts = "\n".join(
        f"| {e['file']} | {e['rows']:,} | {e['ingest_seconds']:.1f} | {e['link_seconds']:.1f} | "
        f"{e['enrich_seconds']:.1f} |"
        for e in result["extracts"]
    )
    record(
        "Linkage speed",
        f"""
`python -m bench.linkage_speed --records {args.records}` (part of `make bench`). {people:,}
synthetic people whose five agency extracts hold {records:,} records, uploaded one after another
into a fresh PostgreSQL database through the production path, in one process with tasks
in-process: each extract is ingested (read, validated, normalised, identity sealed), then
linked incrementally (keys computed from the sealed identity, candidates, scores, persons,
households), then enriched (findings, scores, alerts, dashboard figures), as the pipeline runs
them on the embedded default; each stage's seconds are its own (linkage and enrichment from
their runs' start and finish, ingest the rest). Then a {d["rows"]:,}-record extract of a new
dataset (school nursing rows of people already known) is uploaded and linked against the rest.

{chr(10).join("- " + line for line in lines)}

| extract | rows | ingest s | linkage s | enrichment s |
| --- | --- | --- | --- | --- |
{extracts}

Linkage stages, summed over the five incremental runs:

{_stage_table(runs)}

The {d["rows"]:,}-record extract's run:

{_stage_table(d["runs"])}
""",
    )


if __name__ == "__main__":
    main()
