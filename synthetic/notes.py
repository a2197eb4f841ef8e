"""Free-text summaries and case notes built from templates.

Real notes are where practitioners record risk, and they say as often that a risk is absent as
that it is present ("denies domestic abuse", "no concerns about substance misuse"). A risk
vocabulary that matches words without reading negation flags the wrong families, so the notes here
carry both: households with a risk factor mostly get phrases that affirm it, and every household
gets negated phrases about the risks it does not have. No note names anyone.
"""

from __future__ import annotations

import random

# Affirming and negating phrases per risk factor, as practitioners write them.
AFFIRMING: dict[str, tuple[str, ...]] = {
    "domestic_abuse": (
        "Mother disclosed domestic abuse by her partner.",
        "Victim describes coercive and controlling behaviour, including checking her phone.",
        "Victim disclosed non-fatal strangulation during the incident.",
        "History of domestic abuse incidents at the address.",
        "Children witnessed the assault on their mother.",
        "Partner has breached a non-molestation order.",
    ),
    "substance_misuse": (
        "Father is known to misuse alcohol.",
        "Strong smell of cannabis in the property.",
        "Mother admits daily use of crack cocaine.",
        "Parental substance misuse is impacting on the care of the children.",
        "Suspect appeared heavily intoxicated.",
        "Drug paraphernalia found within reach of the children.",
    ),
    "mental_health": (
        "Mother reports low mood and is under the community mental health team.",
        "Father was detained under the Mental Health Act last year.",
        "Parent has a history of self-harm and suicidal ideation.",
        "Young person disclosed thoughts of self-harm.",
        "Mother's mental health has deteriorated since the birth.",
    ),
    "neglect": (
        "Home conditions were found to be poor with little food in the house.",
        "Child presented as hungry and unkempt at school.",
        "Persistent non-attendance at health appointments.",
        "Children were left unsupervised for long periods.",
        "Dental neglect noted by the school nurse.",
    ),
}
NEGATING: dict[str, tuple[str, ...]] = {
    "domestic_abuse": (
        "Mother denies domestic abuse.",
        "No history of domestic abuse reported.",
        "No concerns about domestic abuse were identified.",
        "Denies any violence in the relationship.",
    ),
    "substance_misuse": (
        "No concerns about substance misuse.",
        "Father denies any alcohol misuse.",
        "No evidence of drug use in the home.",
        "Parents deny any substance misuse.",
    ),
    "mental_health": (
        "No known mental health concerns.",
        "Mother denies low mood.",
        "No history of self-harm.",
    ),
    "neglect": (
        "No evidence of neglect identified.",
        "Home conditions were clean and appropriate.",
        "Children appeared well cared for.",
        "No concerns regarding the children's basic care.",
    ),
}
FACTORS = tuple(AFFIRMING)


def _risk_sentences(rng: random.Random, factors: tuple[str, ...], count: int) -> list[str]:
    sentences = [rng.choice(AFFIRMING[f]) for f in factors if rng.random() < 0.7]
    absent = [f for f in FACTORS if f not in factors]
    rng.shuffle(absent)
    sentences += [rng.choice(NEGATING[f]) for f in absent[: max(0, count - len(sentences))]]
    return sentences


def police_domestic_abuse(
    rng: random.Random, *, grade: str, children_present: bool, factors: tuple[str, ...]
) -> str:
    caller = rng.choice(
        ("a neighbour", "the victim", "a child in the house", "an anonymous caller")
    )
    opening = rng.choice(
        (
            f"Police called by {caller} following a verbal argument between partners.",
            f"Report from {caller} of shouting and banging at the address.",
            f"Officers attended after {caller} reported a disturbance.",
        )
    )
    injury = rng.choice(
        (
            "No visible injuries.",
            "Victim had a cut to the lip.",
            "Victim reports being pushed and grabbed by the arm.",
            "Victim denies any assault.",
            "Bruising to the victim's upper arm.",
        )
    )
    if grade == "high" and rng.random() < 0.5:
        injury = "Victim disclosed non-fatal strangulation."
    children = (
        "Children present at the time of the incident."
        if children_present
        else rng.choice(("No children present.", "Children were asleep upstairs."))
    )
    extra = _risk_sentences(rng, tuple(f for f in factors if f != "domestic_abuse"), 1)
    closing = f"DASH completed: {grade} risk."
    if grade == "high":
        closing += " Referred to MARAC."
    return " ".join([opening, injury, children, *extra, closing])


def police_missing(rng: random.Random, *, age: int, grade: str, exploited: bool) -> str:
    reporter = rng.choice(("mother", "father", "carer", "children's home staff", "school"))
    hours = rng.choice((3, 5, 8, 12, 19, 26, 40))
    place = rng.choice(
        (
            "a friend's address",
            "the city centre",
            "a park near home",
            "a train station in another town",
            "an address known to police",
        )
    )
    concern = (
        rng.choice(
            (
                "Concerns of child criminal exploitation (county lines).",
                "Found in the company of older males; CSE concerns raised.",
                "Had a new phone and cash that cannot be explained.",
            )
        )
        if exploited
        else rng.choice(
            (
                "No concerns of exploitation identified.",
                "Child denies any harm while missing.",
                "No evidence of exploitation.",
            )
        )
    )
    return (
        f"{age}-year-old reported missing from home by {reporter}. Located {hours} hours later at "
        f"{place}. {concern} Risk assessed as {grade}. Return home interview offered."
    )


def police_welfare(rng: random.Random, *, factors: tuple[str, ...]) -> str:
    source = rng.choice(("school", "a neighbour", "the health visitor", "an anonymous caller"))
    sentences = _risk_sentences(rng, factors, 2)
    return f"Welfare check requested by {source}. " + " ".join(sentences)


DRUGS_POSSESSION = ("Drugs possession", "Found in possession of a small quantity of cannabis.")
CRIMES = (
    ("Theft", "Report of theft from a shop in the city centre."),
    ("Criminal damage", "Report of damage to a vehicle on the street."),
    ("Assault", "Report of an assault outside licensed premises."),
    ("Public order", "Public order offence at a bus station."),
    DRUGS_POSSESSION,
    ("Burglary", "Report of a burglary at a dwelling; entry forced through a rear door."),
    ("Anti-social behaviour", "Repeated complaints from neighbours about noise and abuse."),
)
# Offences that have a victim or witness (possession of drugs has neither).
CRIMES_WITH_VICTIMS = tuple(crime for crime in CRIMES if crime != DRUGS_POSSESSION)


def police_crime(rng: random.Random, *, offence: str, text: str, role: str) -> str:
    tail = {
        "Suspect": rng.choice(
            (
                "Suspect arrested and interviewed.",
                "Suspect identified on CCTV.",
                "No further action.",
            )
        ),
        "Victim": rng.choice(
            ("Victim statement taken.", "Victim declined to support a prosecution.")
        ),
        "Witness": "Witness statement taken.",
    }[role]
    return f"{text} {tail}"


def social_care_child(
    rng: random.Random, *, source: str, factors: tuple[str, ...], outcome: str
) -> str:
    trigger = {
        "Police": "a domestic abuse notification from police",
        "Schools": "concerns raised by the child's school",
        "Health services": "concerns raised at a health appointment",
        "Housing": "concerns raised by the housing officer",
        "Individual": "a call from a relative",
        "Anonymous": "an anonymous call",
        "LA services": "a request from another council service",
    }.get(source, "a referral")
    sentences = _risk_sentences(rng, factors, 2)
    return (
        f"Referral received following {trigger}. " + " ".join(sentences) + f" Outcome: {outcome}."
    )


def social_care_parent(rng: random.Random, *, factors: tuple[str, ...], plan: bool) -> str:
    opening = (
        "Parent of a child subject to a child protection plan."
        if plan
        else "Parent of a child referred to children's social care."
    )
    engagement = rng.choice(
        (
            "Engaging with the parenting assessment.",
            "Has missed two core group meetings.",
            "Accepts that changes are needed.",
            "Disputes the concerns raised.",
        )
    )
    return " ".join([opening, *_risk_sentences(rng, factors, 2), engagement])
