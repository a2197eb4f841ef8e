"""Free-text redaction (issue 23): what taking a row's own identifiers out of its notes costs.

Run: python -m bench.redaction [--rows 100000] [--repeats 3] [--smoke]

Rows of a police-style extract (forename, surname, date of birth, NHS number, postcode, an
address line and a 200-character summary) are validated with sharehub_bridge.validation's
RowValidator, as ingest and the bridge validate them, twice: with the summary redacted (a text
column, as defined) and with redaction switched off on the same validator. The difference over
the rows is the cost of redaction per row. Three sets of notes: none naming the person, one in
ten naming them (name, date of birth or NHS number typed in), and every one naming them. For
each chunk of rows the best of `--repeats` runs of each is kept, the two timed in turn, since
the machine is shared. No database is involved.
"""

import argparse
import os
import random
import time

from bench.common import arguments, record
from sharehub_bridge.definitions import definition_parse
from sharehub_bridge.readers import Row
from sharehub_bridge.validation import RowValidator

FORENAMES = ["Alice", "Oliver", "Amelia", "Jack", "Isla", "Harry", "Ava", "Ann", "Ed", "Zoë"]
FORENAMES += ["Robert", "William", "Mohammed", "Aisha", "Chloe", "Kai", "Lee", "Sophie"]
SURNAMES = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "O'Brien", "Patel"]
SURNAMES += ["Smith-Jones", "De Souza", "Nguyen", "Khan", "Evans", "Hughes", "Do", "Li"]
WORDS = (
    "officer attended the address following a report of a verbal argument between two adults "
    "child was upstairs and did not witness the incident neighbour called police at 22:15 no "
    "injuries reported advice given referral made to children's services risk assessed as "
    "medium DASH completed 14 questions answered victim declined to support a prosecution"
).split()
DEFINITION = {
    "name": "Police - domestic abuse incidents",
    "source_id_column": "ref",
    "columns": [
        {"column": "ref", "ignore": True},
        {"column": "forename", "identifier": "forename"},
        {"column": "surname", "identifier": "surname"},
        {"column": "dob", "identifier": "date_of_birth"},
        {"column": "nhs_number", "identifier": "nhs_number"},
        {"column": "postcode", "identifier": "postcode"},
        {"column": "address", "identifier": "address"},
        {"column": "summary", "type": "text", "label": "Summary"},
    ],
}
HEADER = [column["column"] for column in DEFINITION["columns"]]
NOTE_LENGTH = 200


def note(rng: random.Random, person: dict[str, str], naming: bool) -> str:
    words = []
    while len(" ".join(words)) < NOTE_LENGTH:
        words.append(rng.choice(WORDS))
    if naming:
        mention = rng.choice(
            [
                person["forename"],
                f"{person['forename']} {person['surname']}'s",
                f"dob {person['dob']}",
                f"NHS {person['nhs_number'][:3]} {person['nhs_number'][3:6]} "
                f"{person['nhs_number'][6:]}",
            ]
        )
        words.insert(rng.randrange(len(words)), mention)
    return " ".join(words)[:NOTE_LENGTH]


def rows_make(count: int, naming_share: float, seed: int) -> list[Row]:
    rng = random.Random(seed)
    rows = []
    for number in range(count):
        person = {
            "ref": f"R{number}",
            "forename": rng.choice(FORENAMES),
            "surname": rng.choice(SURNAMES),
            "dob": f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1950, 2024)}",
            "nhs_number": "".join(rng.choice("0123456789") for _ in range(10)),
            "postcode": f"LS{rng.randint(1, 29)} {rng.randint(1, 9)}{rng.choice('ABDEFG')}"
            f"{rng.choice('HJLNPQ')}",
            "address": f"{rng.randint(1, 200)} {rng.choice(['High', 'Mill', 'Park'])} Street",
        }
        person["summary"] = note(rng, person, rng.random() < naming_share)
        rows.append(Row(number=number + 2, values=person))
    return rows


CHUNK = 1000


def seconds(validators: list[RowValidator], rows: list[Row], repeats: int) -> list[float]:
    """Seconds each validator takes over the rows: chunk by chunk, the validators in turn, the
    best of `repeats` for each chunk, so a burst of other work on a shared machine slows one
    chunk's attempt rather than one validator's whole figure."""
    totals = [0.0] * len(validators)
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        best = [float("inf")] * len(validators)
        for _ in range(repeats):
            for index, validator in enumerate(validators):
                started = time.perf_counter()
                for row in chunk:
                    validator.validate(row)
                best[index] = min(best[index], time.perf_counter() - started)
        totals = [total + chunk_best for total, chunk_best in zip(totals, best, strict=True)]
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = arguments(parser, smoke_sizes={"rows": 300, "repeats": 1})
    definition = definition_parse(DEFINITION, stored=True)
    lines = [
        "| notes | rows | validate, redacting (µs/row) | validate, not redacting (µs/row) "
        "| redaction (µs/row) | rows redacted |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, share in (("none name the person", 0.0), ("1 in 10 do", 0.1), ("all do", 1.0)):
        rows = rows_make(args.rows, share, seed=1)
        redacting = RowValidator(definition, HEADER)
        plain = RowValidator(definition, HEADER)
        plain.free_text = ()  # the same validator with its text column not redacted
        with_redaction, without = seconds([redacting, plain], rows, args.repeats)
        redacted = sum("redacted_row" in redacting.validate(row).repairs for row in rows)
        per_row = [with_redaction / len(rows) * 1e6, without / len(rows) * 1e6]
        lines.append(
            f"| {label} | {len(rows):,} | {per_row[0]:.1f} | {per_row[1]:.1f} "
            f"| {per_row[0] - per_row[1]:.1f} | {redacted:,} |"
        )
        print(lines[-1], flush=True)
    body = (
        f"`python -m bench.redaction --rows {args.rows}`: rows of a police-style extract "
        f"(names, date of birth, NHS number, postcode, an address line and a {NOTE_LENGTH}-"
        "character summary) validated by RowValidator, with the summary redacted of the row's "
        "own identifiers and, on the same rows, with redaction switched off; for each chunk of "
        f"{CHUNK:,} rows the best of {args.repeats} runs, the two in turn; one process, no "
        "database. A dataset without free-text columns "
        "pays one test of an empty tuple per row. Load average when it finished: "
        f"{os.getloadavg()[0]:.1f} (other work on the machine slows both columns alike).\n\n"
        + "\n".join(lines)
    )
    record("Free-text redaction (issue 23)", body)


if __name__ == "__main__":
    main()
