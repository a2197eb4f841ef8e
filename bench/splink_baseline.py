"""The Splink baseline for the linkage quality benchmark: plaintext Splink (DuckDB) on the same
synthetic extracts ShareHub links, scored against the same ground truth.

It is the yardstick a competent analyst with every agency's plaintext in one place would reach
with an off-the-shelf probabilistic linker: light cleaning only, Splink's stock comparisons,
u by random sampling, m by EM, predict, connected-component clustering at a threshold.
ShareHub never holds the plaintext together like this, so the comparison shows what linking on
keyed tokens costs or gains in quality against a plaintext linker.

Run: .venv/bin/python -m bench.splink_baseline --people 20000 [--smoke] (needs
requirements/bench.lock, installed by `make bench`). It prints its figures and writes nothing to
BENCHMARKS.md: bench/linkage_quality.py calls `splink_link` and writes the side-by-side table.

Splink 5 API used (checked against the installed 5.0.0, which changed from 3.x/4.x):
`DuckDBAPI()`, `db_api.register(df, dataset_display_name=...)`, `Linker(sdf, SettingsCreator)`,
`linker.training.estimate_probability_two_random_records_match / estimate_u_using_random_sampling
/ estimate_parameters_using_expectation_maximisation`, `linker.inference.predict`,
`linker.clustering.cluster_pairwise_predictions_at_threshold`, `.as_pandas_dataframe()`.
"""

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import splink
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from bench.common import arguments, peak_rss_mb
from bench.linkage_metrics import RecordKey, format_table, ground_truth_load, pairwise_scores
from bench.linkage_runner import synthetic_set

SEED = 1

# The common plaintext schema every agency extract is mapped to.
COLUMNS = [
    "unique_id",
    "agency",
    "source_record_id",
    "forename",
    "surname",
    "dob",
    "postcode",
    "nhs_number",
    "upn",
    "pnc_id",
    "address",
]

# Placeholders an analyst sees at once when profiling the names and dates (an unidentified ED
# patient, a newborn registered before naming). As values they would make every "Baby" or
# "Unknown" agree with every other, so they become nulls, which Splink treats as no evidence.
FORENAME_PLACEHOLDERS = {"BABY", "BABY BOY", "BABY GIRL", "UNKNOWN", "NOT KNOWN"}
SURNAME_PLACEHOLDERS = {"UNKNOWN", "NOT KNOWN", "PATIENT"}
DOB_PLACEHOLDERS = {"1900-01-01"}

# Every date format seen across the extracts (each agency has its own, plus rows from another
# system in another): ISO with or without a midnight time, UK d/m/yyyy, and 31-Jan-2021.
DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%d-%b-%Y", "%Y%m%d"]

# A UK postcode at the end of a one-line address (education has no postcode column).
POSTCODE_AT_END = r"([A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2})\s*$"


# --- reading and light cleaning ------------------------------------------------------------------
def _column(raw: pd.DataFrame, name: str) -> pd.Series:
    return raw[name] if name in raw.columns else pd.Series("", index=raw.index, dtype="str")


def _blank_to_null(s: pd.Series) -> pd.Series:
    return s.where(s != "")


def _clean_name(s: pd.Series, placeholders: set[str]) -> pd.Series:
    # Upper case; apostrophes and dots go (O'Hara = OHARA), hyphens become spaces so a
    # double-barrelled name compares the same whichever way it was keyed. Digits from OCR
    # errors stay: they are noise the fuzzy comparisons are there to absorb.
    s = s.str.upper().str.replace(r"['.]", "", regex=True).str.replace("-", " ")
    s = s.str.replace(r"\s+", " ", regex=True).str.strip()
    return _blank_to_null(s.where(~s.isin(placeholders), ""))


def _clean_dob(s: pd.Series) -> pd.Series:
    """Parse any of the extracts' date formats to an ISO string; unparseable -> null."""
    s = s.str.strip().str.replace(r" 00:00:00$", "", regex=True)
    # Each format parsed to ISO text and the first that reads kept: combining the parsed dates
    # themselves breaks on pandas 3, whose resolution follows each parse (a year 5966 typo).
    iso = pd.Series(None, index=s.index, dtype="object")
    for fmt in DATE_FORMATS:
        parsed = pd.to_datetime(s, format=fmt, errors="coerce")
        iso = iso.fillna(parsed.dt.strftime("%Y-%m-%d").astype("object"))
    return iso.where(~iso.isin(DOB_PLACEHOLDERS))


def _clean_postcode(s: pd.Series) -> pd.Series:
    # One canonical spelling, "LS10 1BP": Splink's PostcodeComparison finds the sector and
    # district with regexes that expect the single space before the inward code.
    s = s.str.upper().str.replace(r"\s+", "", regex=True)
    s = s.where(s.str.len().between(5, 7), "")
    return _blank_to_null(s.str[:-3] + " " + s.str[-3:]).where(s != "")


def _clean_nhs(s: pd.Series) -> pd.Series:
    s = s.str.replace(r"\s+", "", regex=True)
    return s.where(s.str.fullmatch(r"[0-9]{10}"))  # an OCR-mangled number is no evidence


def _clean_upn(s: pd.Series) -> pd.Series:
    return _blank_to_null(s.str.upper().str.replace(r"\s+", "", regex=True))


def _clean_pnc(s: pd.Series) -> pd.Series:
    # Some police systems print the short form (08/56560Z for 2008/0056560Z); both become
    # yy/nnnnnnnL so the same PNC id matches exactly whichever form was written.
    s = s.str.upper().str.replace(r"\s+", "", regex=True)
    parts = s.str.extract(r"^(?:[0-9]{2})?([0-9]{2})/([0-9]{1,7})([A-Z])$")
    canonical = parts[0] + "/" + parts[1].str.zfill(7) + parts[2]
    return _blank_to_null(canonical.fillna(s))


def _clean_address(s: pd.Series) -> pd.Series:
    s = s.str.upper().str.replace(r"\s+", " ", regex=True).str.strip(" ,")
    return _blank_to_null(s)


def _agency_frame(path: Path, agency: str, id_column: str) -> pd.DataFrame:
    """One agency's extract in the common plaintext schema (without unique_id)."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    address = _column(raw, "address")
    if "address_line_1" in raw.columns:  # social care splits the address over two lines
        address = raw["address_line_1"] + ", " + raw["address_line_2"]
    postcode = _column(raw, "postcode")
    if "postcode" not in raw.columns:  # education: only inside the address
        postcode = address.str.extract(POSTCODE_AT_END)[0].fillna("")
    return pd.DataFrame(
        {
            "agency": agency,
            "source_record_id": raw[id_column],
            "forename": _clean_name(_column(raw, "forename"), FORENAME_PLACEHOLDERS),
            "surname": _clean_name(_column(raw, "surname"), SURNAME_PLACEHOLDERS),
            "dob": _clean_dob(_column(raw, "dob")),
            "postcode": _clean_postcode(postcode),
            "nhs_number": _clean_nhs(_column(raw, "nhs_number")),
            "upn": _clean_upn(_column(raw, "upn")),
            "pnc_id": _clean_pnc(_column(raw, "pnc_id")),
            "address": _clean_address(address),
        }
    )


# A benchmark set's identifier roles (bench.linkage_sets), as the common schema names them.
SET_ROLES = {
    "forename": "forename",
    "surname": "surname",
    "date_of_birth": "dob",
    "postcode": "postcode",
    "address": "address",
    "nhs_number": "nhs_number",
    "upn": "upn",
    "pnc_id": "pnc_id",
}


def _set_frame(path: Path, agency: str, definition: dict) -> pd.DataFrame:
    """One extract of a benchmark set in the common plaintext schema, from its definition."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    columns: dict[str, list[str]] = {}
    for spec in definition["columns"]:
        role = SET_ROLES.get(spec.get("identifier", ""))
        if role:
            columns.setdefault(role, []).append(spec["column"])

    def joined(role: str) -> pd.Series:
        names = columns.get(role, [])
        if not names:
            return pd.Series("", index=raw.index, dtype="str")
        parts = raw[names].apply(lambda row: ", ".join(v.strip() for v in row if v.strip()), axis=1)
        return parts if len(names) > 1 else raw[names[0]]

    address = joined("address")
    postcode = joined("postcode")
    return pd.DataFrame(
        {
            "agency": agency,
            "source_record_id": raw[definition["source_id_column"]],
            "forename": _clean_name(joined("forename"), FORENAME_PLACEHOLDERS),
            "surname": _clean_name(joined("surname"), SURNAME_PLACEHOLDERS),
            "dob": _clean_dob(joined("dob")),
            "postcode": _clean_postcode(postcode)
            if postcode.str.fullmatch(r"\s*[A-Za-z]{1,2}\d[A-Za-z\d]?\s*\d[A-Za-z]{2}\s*").mean()
            > 0.5
            else _blank_to_null(postcode.str.upper().str.replace(r"\s+", "", regex=True)),
            "nhs_number": _clean_nhs(joined("nhs_number")),
            "upn": _clean_upn(joined("upn")),
            "pnc_id": _clean_pnc(joined("pnc_id")),
            "address": _clean_address(address),
        }
    )


def records_load(synthetic_dir: str | Path) -> pd.DataFrame:
    """All the extracts, cleaned into one table with an integer unique_id."""
    synthetic_dir = Path(synthetic_dir)
    manifest = json.loads((synthetic_dir / "manifest.json").read_text())
    if "definition" in manifest["datasets"][0]:
        frames = [
            _set_frame(synthetic_dir / d["file"], d["agency"], d["definition"])
            for d in manifest["datasets"]
        ]
        records = pd.concat(frames, ignore_index=True)
        records.insert(0, "unique_id", range(len(records)))
        # The house number, for blocking on address with a name as Splink's examples do.
        records["house"] = records["address"].str.extract(r"(\d+)")[0]
        return records[[*COLUMNS, "house"]]
    frames = [
        _agency_frame(synthetic_dir / d["file"], d["agency"], d["id_column"])
        for d in manifest["datasets"]
    ]
    records = pd.concat(frames, ignore_index=True)
    records.insert(0, "unique_id", range(len(records)))
    return records[COLUMNS]


# --- the Splink model ----------------------------------------------------------------------------
def _present(records: pd.DataFrame, column: str) -> bool:
    return column in records.columns and bool(records[column].notna().any())


def _set_settings(records: pd.DataFrame) -> tuple[SettingsCreator, list, list]:
    """Splink settings for a benchmark set: the same model as _settings over the identifiers the
    set has, with an address comparison and address blocking rules where it has addresses (a
    set without postcodes or dates of birth would otherwise give Splink nothing to go on)."""
    uk_postcodes = _present(records, "postcode") and bool(
        records["postcode"].dropna().str.fullmatch(r"[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}").mean() > 0.5
    )
    comparisons = [cl.NameComparison("forename"), cl.NameComparison("surname")]
    blocking = [block_on("forename", "surname")]
    deterministic = [block_on("forename", "surname", "dob")]
    em_rules = [block_on("forename", "surname")]
    if _present(records, "dob"):
        comparisons.append(
            cl.DateOfBirthComparison("dob", input_is_string=True, datetime_format="%Y-%m-%d")
        )
        blocking += [block_on("dob"), block_on("surname", "substr(dob, 1, 4)")]
        em_rules.insert(0, block_on("dob"))
    if _present(records, "postcode"):
        comparisons.append(
            cl.PostcodeComparison("postcode") if uk_postcodes else cl.ExactMatch("postcode")
        )
        blocking.append(block_on("postcode", "substr(forename, 1, 1)"))
    # Where postcodes say where someone lives, the address adds mostly a household's shared
    # evidence (Splink at any threshold then merges families); without them it is all there is.
    if _present(records, "address") and not uk_postcodes:
        comparisons.append(cl.JaroWinklerAtThresholds("address", [0.95, 0.88, 0.7]))
        blocking += [block_on("house", "surname"), block_on("house", "forename")]
        deterministic.append(block_on("forename", "surname", "address"))
        em_rules.append(block_on("house", "surname"))
    for identifier in ("nhs_number", "upn", "pnc_id"):
        if _present(records, identifier):
            comparisons.append(cl.ExactMatch(identifier))
            blocking.insert(0, block_on(identifier))
            deterministic.insert(0, block_on(identifier))
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking,
        retain_intermediate_calculation_columns=False,
    )
    return settings, deterministic, em_rules


def _settings() -> SettingsCreator:
    return SettingsCreator(
        # One combined table: records of one person within an agency (duplicate registrations)
        # must link too, which link_only between agencies would never do.
        link_type="dedupe_only",
        comparisons=[
            # Exact (with term-frequency adjustment, so a rare name counts for more), then
            # Jaro-Winkler 0.92 / 0.88 / 0.7 for typos, phonetic spellings and OCR.
            cl.NameComparison("forename"),
            cl.NameComparison("surname"),
            # Exact, one character off (a typo), within a month, a year, ten years, else: a
            # day/month swap or a wrong year lands in a near level, which weighs against a
            # match far less than a wholly different date.
            cl.DateOfBirthComparison("dob", input_is_string=True, datetime_format="%Y-%m-%d"),
            # Full postcode, sector, district, area: a move within a district keeps evidence.
            cl.PostcodeComparison("postcode"),
            cl.ExactMatch("nhs_number"),
            cl.ExactMatch("upn"),
            cl.ExactMatch("pnc_id"),
        ],
        # Candidate pairs: a pair that meets any one rule is scored, so a record with a wrong
        # dob, surname or postcode still meets its person's other records through another
        # rule. 9.7M candidate pairs at 100,000 people (387k records); postcode alone would
        # add 30M pairs of neighbours, hence postcode with the forename's first letter.
        blocking_rules_to_generate_predictions=[
            block_on("nhs_number"),
            block_on("upn"),
            block_on("pnc_id"),
            block_on("dob"),
            block_on("surname", "substr(dob, 1, 4)"),
            block_on("forename", "surname"),
            block_on("postcode", "substr(forename, 1, 1)"),
        ],
        retain_intermediate_calculation_columns=False,
    )


# Deterministic rules with very few false positives, for the prior match probability.
DETERMINISTIC_RULES = [
    block_on("nhs_number"),
    block_on("forename", "surname", "dob"),
]
DETERMINISTIC_RECALL = 0.8
U_MAX_PAIRS = 1e7
# EM passes: each blocking rule fixes the columns it blocks on, so between them every
# comparison gets m estimated at least once (dob pass: names, postcode, ids; name pass: dob,
# postcode, ids).
EM_RULES = [
    block_on("dob"),
    block_on("forename", "surname"),
]


def splink_link(
    synthetic_dir: str | Path, *, threshold_probability: float = 0.9
) -> tuple[dict[RecordKey, int], float, dict[str, Any]]:
    """Link a synthetic set with Splink; time from reading the CSVs to the clusters.

    Returns (predicted, seconds, details): predicted maps (agency, source_record_id) to a
    Splink cluster id, keyed like `ground_truth.csv`; details has the stage timings, sizes
    and the model settings used.
    """
    stages: dict[str, float] = {}
    start = time.perf_counter()

    records = records_load(synthetic_dir)
    stages["read_and_clean"] = time.perf_counter() - start

    mark = time.perf_counter()
    db_api = DuckDBAPI()
    table = db_api.register(records, dataset_display_name="records")
    if "house" in records.columns:
        settings, deterministic_rules, em_rules = _set_settings(records)
    else:
        settings, deterministic_rules, em_rules = _settings(), DETERMINISTIC_RULES, EM_RULES
    linker = Linker(table, settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        deterministic_rules, recall=DETERMINISTIC_RECALL
    )
    stages["train_prior"] = time.perf_counter() - mark

    mark = time.perf_counter()
    linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=SEED)
    stages["train_u"] = time.perf_counter() - mark

    mark = time.perf_counter()
    for rule in em_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    stages["train_em"] = time.perf_counter() - mark

    mark = time.perf_counter()
    # Pairs below the clustering threshold are not kept: clustering would drop them anyway,
    # and all the scored candidate pairs (9.7M at 100,000 people) need not be held.
    pairs = linker.inference.predict(threshold_match_probability=threshold_probability)
    stages["predict"] = time.perf_counter() - mark

    mark = time.perf_counter()
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        pairs, threshold_match_probability=threshold_probability
    )
    cluster_of = clusters.as_pandas_dataframe()[["unique_id", "cluster_id"]]
    stages["cluster"] = time.perf_counter() - mark

    # Splink names a cluster after one of its records' unique_id: map both back to the
    # (agency, source_record_id) keys of the ground truth.
    merged = records[["unique_id", "agency", "source_record_id"]].merge(cluster_of, on="unique_id")
    predicted = {
        (agency, record_id): int(cluster_id)
        for agency, record_id, cluster_id in zip(
            merged["agency"], merged["source_record_id"], merged["cluster_id"], strict=True
        )
    }
    seconds = time.perf_counter() - start

    ((pair_count,),) = pairs.as_duckdbpyrelation().aggregate("count(*)").fetchall()
    # The trained model (settings, blocking rules, every m and u), as Splink saves it to JSON.
    model = linker.misc.save_model_to_json()
    details = {
        "records": len(records),
        "pairs_above_threshold": pair_count,
        "clusters": int(cluster_of["cluster_id"].nunique()),
        "threshold_probability": threshold_probability,
        "stages_seconds": stages,
        "splink_version": splink.__version__,
        "duckdb_version": duckdb.__version__,
        "probability_two_random_records_match": model["probability_two_random_records_match"],
        "model": model,
    }
    return predicted, seconds, details


# --- command line --------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--threshold", type=float, default=0.9)
    args = arguments(parser, smoke_sizes={"people": 150})

    directory = synthetic_set(args.people)
    predicted, seconds, details = splink_link(directory, threshold_probability=args.threshold)
    scores = pairwise_scores(predicted, ground_truth_load(directory))

    print(f"Splink {details['splink_version']} (DuckDB {details['duckdb_version']}) on {directory}")
    print(
        f"{details['records']:,} records, {details['pairs_above_threshold']:,} pairs at "
        f">= {args.threshold}, {details['clusters']:,} clusters"
    )
    print(
        "stages: " + ", ".join(f"{name} {s:.1f} s" for name, s in details["stages_seconds"].items())
    )
    row = {
        "people": args.people,
        "records": scores["records"],
        "precision": scores["precision"],
        "recall": scores["recall"],
        "F1": scores["f1"],
        "exact clusters": scores["exact_cluster_match"],
        "cluster precision": scores["cluster_precision"],
        "cluster F1": scores["cluster_f1"],
        "seconds": f"{seconds:.1f}",
        "peak RSS": f"{peak_rss_mb():.0f} MB",
    }
    print(format_table([row]))


if __name__ == "__main__":
    main()
