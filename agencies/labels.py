"""A field's label as a practitioner reads it, made from a column name when the agency gave none.

"cp_plan_start" was shown as "Cp plan start" and "attendance_pct" as "Attendance pct": the
abbreviations of the field are words in their own right (a child protection plan is "the CP
plan", a practice is "the GP practice"), so they keep their capitals, and a unit written as a
word becomes its sign.
"""

import re

# Abbreviations practitioners write in capitals (and one they write out), by the lower-case word
# a column name holds.
ABBREVIATIONS = {
    "a&e": "A&E",
    "ae": "A&E",
    "asb": "ASB",
    "cin": "CIN",
    "cla": "CLA",
    "cp": "CP",
    "cse": "CSE",
    "dash": "DASH",
    "dob": "date of birth",
    "dv": "DV",
    "ehcp": "EHCP",
    "fsm": "FSM",
    "gp": "GP",
    "id": "ID",
    "lac": "LAC",
    "lado": "LADO",
    "marac": "MARAC",
    "mash": "MASH",
    "nhs": "NHS",
    "pnc": "PNC",
    "sen": "SEN",
    "upn": "UPN",
    "uprn": "UPRN",
    "yot": "YOT",
}
# Units written as words at the end of a column name: "attendance_pct" is "Attendance %".
UNITS = {"pct": "%", "percent": "%", "percentage": "%"}


def readable_label(column: str) -> str:
    """The label a column name reads as: words split at _ - . and case changes, the first
    capitalised, known abbreviations in capitals, a trailing unit as its sign."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", column)
    words = [w for w in re.split(r"[\s_\-.]+", spaced.strip()) if w]
    if not words:
        return column
    read = []
    for position, word in enumerate(words):
        lower = word.lower()
        if position == len(words) - 1 and position > 0 and lower in UNITS:
            read.append(UNITS[lower])
        elif lower in ABBREVIATIONS:
            read.append(ABBREVIATIONS[lower])
        elif word.isupper() and len(word) > 1:
            read.append(word)  # the agency's own capitals: an abbreviation we do not know
        else:
            read.append(lower)
    first = read[0]
    read[0] = first[:1].upper() + first[1:]
    return " ".join(read)


def label_made_from_column(label: str, column: str) -> bool:
    """Whether `label` is only the column name, or what ShareHub's mapping proposal made of it
    before labels kept abbreviations ("Cp plan start"): a label no one chose, which
    readable_label may improve. A label an admin typed is kept as they wrote it."""
    if not label or label == column:
        return True
    words = re.sub(r"[_\-.]+", " ", column).strip()
    return label == words[:1].upper() + words[1:]
