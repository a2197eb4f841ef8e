"""Five agencies' extracts of the synthetic population, each with the agency's own errors.

Each agency sees a realistic subset of the population (health most people, education only pupils,
police a minority gathered in a few households, social care children in risky households and their
parents, housing council tenants) and sees the same risky households more often, because that is
what multi-agency data looks like. One person appears on many rows of one extract (every attendance,
every incident, every census term); DOMAIN.md explains why deduplication within an agency matters as
much as linkage across agencies.

An agency holds a *registration* per person: the name, date of birth and identifiers as its staff
once keyed them, with the persistent errors of synthetic.noise. Every row of that registration
repeats those errors and adds its own keying slips. A duplicate registration (a second record for
the same person, keyed differently) is what a data-quality team would find.

Rows are sorted by event date with a random tie-break before record ids are assigned, so neither
row order nor id order follows households or people: in a real extract they do not either.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from sharehub_bridge.identifiers import UPN_LETTERS, upn_check_letter
from synthetic import notes
from synthetic.contacts import ContactBook
from synthetic.names import MONTHS, SA_PROPHET_NAMES
from synthetic.noise import (
    NoiseRates,
    address_formatted,
    ascii_folded,
    dob_day_month_swapped,
    dob_wrong,
    forename_familiar,
    forename_phonetic,
    nhs_mistyped,
    ocr,
    postcode_formatted,
    surname_varied,
    typo,
)
from synthetic.population import PERIOD_START, REFERENCE_DATE, Address, Person, Population

_REF_ORD = REFERENCE_DATE.toordinal()
_START_ORD = PERIOD_START.toordinal()


@dataclass(frozen=True)
class DatasetSpec:
    """One extract file: who holds it, its name, and its columns (the first is the record id)."""

    agency: str
    dataset: str
    filename: str
    columns: tuple[str, ...]

    @property
    def id_column(self) -> str:
        return self.columns[0]


SOCIAL_CARE = DatasetSpec(
    "social_care",
    "referrals",
    "social_care_referrals.csv",
    (
        "referral_id",
        "person_id",
        "person_role",
        "forename",
        "surname",
        "dob",
        "gender",
        "address_line_1",
        "address_line_2",
        "postcode",
        "nhs_number",
        "referral_date",
        "referral_source",
        "category_of_need",
        "cp_plan_start",
        "cp_plan_end",
        "cp_category",
        "looked_after",
        "case_notes",
        "allocated_worker",
        "team",
        "team_phone",
        "team_email",
    ),
)
POLICE = DatasetSpec(
    "police",
    "incidents",
    "police_incidents.csv",
    (
        "record_id",
        "incident_ref",
        "forename",
        "surname",
        "dob",
        "address",
        "postcode",
        "pnc_id",
        "incident_date",
        "incident_type",
        "role",
        "risk_grade",
        "summary",
        "officer_in_case",
        "team",
        "team_phone",
        "team_email",
    ),
)
HEALTH = DatasetSpec(
    "health",
    "attendances",
    "health_attendances.csv",
    (
        "attendance_id",
        "nhs_number",
        "forename",
        "surname",
        "dob",
        "postcode",
        "gp_practice",
        "service",
        "attendance_date",
        "reason",
        "safeguarding_flag",
        "substance_misuse",
        "mental_health_contact",
    ),
)
EDUCATION = DatasetSpec(
    "education",
    "school_census",
    "education_school_census.csv",
    (
        "record_id",
        "upn",
        "forename",
        "surname",
        "dob",
        "address",
        "school",
        "census_term",
        "attendance_pct",
        "exclusions_fixed",
        "exclusions_permanent",
        "sen_status",
        "fsm",
    ),
)
HOUSING = DatasetSpec(
    "housing",
    "tenancies",
    "housing_tenancies.csv",
    (
        "record_id",
        "tenancy_ref",
        "relationship",
        "forename",
        "surname",
        "dob",
        "address",
        "postcode",
        "snapshot_date",
        "tenancy_status",
        "arrears_band",
        "asb_case",
        "temporary_accommodation",
    ),
)
DATASETS = (SOCIAL_CARE, POLICE, HEALTH, EDUCATION, HOUSING)


# --- date formats ---------------------------------------------------------------------------------
# Each agency's system writes dates its own way, as real extracts do.
def _iso(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}"


def _iso_time(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d} 00:00:00"


def _dmy(d: date) -> str:
    return f"{d.day:02d}/{d.month:02d}/{d.year:04d}"


def _dmy_short(d: date) -> str:
    return f"{d.day}/{d.month}/{d.year:04d}"


def _d_mon_y(d: date) -> str:
    return f"{d.day:02d}-{MONTHS[d.month - 1]}-{d.year:04d}"


DateFormat = Callable[[date], str]
# agency -> (usual format, the format of the occasional row from another system)
DATE_FORMATS: dict[str, tuple[DateFormat, DateFormat]] = {
    "social_care": (_iso_time, _dmy),
    "police": (_dmy, _iso),
    "health": (_iso, _dmy),
    "education": (_d_mon_y, _dmy),
    "housing": (_dmy_short, _iso),
}
DATE_FORMAT_NAMES = {
    "social_care": "yyyy-mm-dd 00:00:00",
    "police": "dd/mm/yyyy",
    "health": "yyyy-mm-dd",
    "education": "dd-Mon-yyyy",
    "housing": "d/m/yyyy",
}


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method; means here are small.
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _geometric_extra(rng: random.Random, more: float, cap: int) -> int:
    """1 plus the number of further events, each following with probability `more`."""
    n = 1
    while n < cap and rng.random() < more:
        n += 1
    return n


def _day(rng: random.Random, lo: int, hi: int) -> date:
    """A random date between two ordinals, inclusive."""
    return date.fromordinal(lo + rng.randrange(hi - lo + 1))


class Registration:
    """An agency's record of one person: the details as once keyed, errors included."""

    __slots__ = ("person", "forename", "surname_varied", "swap", "dob", "nhs", "upn", "local_id")

    def __init__(self, person: Person) -> None:
        self.person = person
        self.forename = person.forename
        self.surname_varied: dict[str, str] | None = None
        self.swap = False
        self.dob = person.dob
        self.nhs = person.nhs_number
        self.upn = person.upn
        self.local_id = ""


@dataclass(slots=True)
class _Event:
    ordinal: int
    tiebreak: float
    person: Person
    payload: tuple
    variant: int = 0


@dataclass(frozen=True)
class Extract:
    """An extract ready to write: header, rows and the true person behind each row."""

    spec: DatasetSpec
    rows: list[list[str]]
    people: list[Person]


class _Agency:
    """Collects one agency's events, then renders them as rows with the agency's errors."""

    def __init__(
        self,
        spec: DatasetSpec,
        rng: random.Random,
        rates: NoiseRates,
        *,
        rng_name: str,
        id_prefix: str,
        surname_upper: bool = False,
        ascii_only: bool = False,
        nhs_recorded: float = 1.0,
        local_ids: bool = False,
    ) -> None:
        self.spec = spec
        self.rng = rng
        self.rates = rates
        # Who to contact at the agency, drawn from a stream of its own: the contact columns
        # leave every other column as it was for the same seed.
        self.contacts = ContactBook(
            random.Random(f"{rng_name}:contacts")  # noqa: S311 - test data, reproducible
        )
        self.id_prefix = id_prefix
        self.surname_upper = surname_upper
        self.ascii_only = ascii_only
        self.nhs_recorded = nhs_recorded
        self.local_ids = local_ids
        self.events: list[_Event] = []
        self.registrations: dict[tuple[int, int], Registration] = {}
        self._local_ids_used: set[int] = set()
        self.date_format, self.alternate_format = DATE_FORMATS[spec.agency]
        self.fmt = self.date_format  # the current row's format
        self.serial = 0  # for references shared by several rows, numbered in date order
        shows_nhs = "nhs_number" in spec.columns
        self._differences = ("forename", "surname", "dob") + (("nhs",) if shows_nhs else ())

    def add(self, when: date, person: Person, *payload: object) -> None:
        self.events.append(_Event(when.toordinal(), self.rng.random(), person, payload))

    # --- duplicates and registrations -------------------------------------------------------------
    def _mark_duplicates(self) -> None:
        """Give some people a second registration, used on some of their rows (or a copied row)."""
        rng, rate = self.rng, self.rates.duplicate_record
        if rate <= 0:
            return
        by_person: dict[int, list[_Event]] = {}
        for event in self.events:
            by_person.setdefault(event.person.index, []).append(event)
        copies = []
        for events in by_person.values():
            if rng.random() >= rate:
                continue
            if len(events) == 1:
                # The same event entered again under a new record a few days later.
                only = events[0]
                ordinal = min(_REF_ORD, only.ordinal + rng.randrange(0, 21))
                copies.append(_Event(ordinal, rng.random(), only.person, only.payload, 1))
                continue
            for event in events:
                event.variant = 1 if rng.random() < 0.4 else 0
            # Both registrations in use, or there is no duplicate to find.
            kept, moved = rng.sample(range(len(events)), 2)
            events[kept].variant, events[moved].variant = 0, 1
        self.events.extend(copies)

    def registration(self, person: Person, variant: int) -> Registration:
        key = (person.index, variant)
        found = self.registrations.get(key)
        if found is None:
            found = self.registrations[key] = self._register(person, variant)
        return found

    def _register(self, person: Person, variant: int) -> Registration:
        rng, rates = self.rng, self.rates
        r = rng.random
        reg = Registration(person)
        # A second registration exists because something was keyed differently; make sure it was,
        # in a field this agency's extract shows.
        force = rng.choice(self._differences) if variant else ""

        middle_rate = rates.middle_name_as_forename
        if person.forename in SA_PROPHET_NAMES:
            # Known by the calling name, so agencies often record that as the forename.
            middle_rate = min(1.0, middle_rate * 25)
        if person.middle_name and r() < middle_rate:
            reg.forename = person.middle_name
        elif r() < rates.nickname:
            reg.forename = forename_familiar(rng, person.forename) or person.forename
        elif r() < rates.phonetic:
            reg.forename = forename_phonetic(rng, person.forename) or person.forename
        if force == "forename" and reg.forename == person.forename:
            reg.forename = (
                forename_familiar(rng, person.forename)
                or forename_phonetic(rng, person.forename)
                or typo(rng, person.forename)
            )
        if r() < rates.surname_variant or force == "surname":
            reg.surname_varied = {}
        reg.swap = r() < rates.name_order_swapped

        x = r()
        if x < rates.dob_day_month_swap:
            reg.dob = dob_day_month_swapped(person.dob) or person.dob
        elif x < rates.dob_day_month_swap + rates.dob_wrong:
            reg.dob = dob_wrong(rng, person.dob)
        elif x < rates.dob_day_month_swap + rates.dob_wrong + rates.parent_dob_on_child:
            parent = person.mother or person.father
            if parent is not None and person.age < 18:
                reg.dob = parent.dob
        if force == "dob" and reg.dob == person.dob:
            reg.dob = dob_day_month_swapped(person.dob) or dob_wrong(rng, person.dob)

        x = r()
        if x >= self.nhs_recorded or x < rates.nhs_missing * self.nhs_recorded:
            reg.nhs = ""
        elif r() < rates.nhs_wrong:
            relative = person.mother or person.father
            if relative is not None and r() < 0.15:
                reg.nhs = relative.nhs_number  # valid, but someone else's
            else:
                reg.nhs = nhs_mistyped(rng, person.nhs_number)
        if force == "nhs" and reg.nhs == person.nhs_number:
            reg.nhs = ""

        if variant and person.upn and r() < 0.5:
            # A pupil re-registered under a temporary UPN (a letter in the last place).
            body = person.upn[1:12] + rng.choice(UPN_LETTERS)
            reg.upn = upn_check_letter(body) + body
        if self.local_ids:
            while True:
                number = rng.randrange(1_000_000, 10_000_000)
                if number not in self._local_ids_used:
                    self._local_ids_used.add(number)
                    reg.local_id = str(number)
                    break
        return reg

    # --- per-row fields ---------------------------------------------------------------------------
    def names(self, reg: Registration, when: date) -> tuple[str, str]:
        rng, rates = self.rng, self.rates
        r = rng.random
        forename = reg.forename
        surname = reg.person.surname_at(when)
        if reg.surname_varied is not None:
            varied = reg.surname_varied.get(surname)
            if varied is None:
                varied = reg.surname_varied[surname] = surname_varied(rng, surname)
            surname = varied
        if r() < rates.typo:
            forename = typo(rng, forename)
        if r() < rates.typo:
            surname = typo(rng, surname)
        if r() < rates.ocr:
            forename = ocr(rng, forename)
        if r() < rates.ocr:
            surname = ocr(rng, surname)
        if reg.swap:
            forename, surname = surname, forename
        if self.ascii_only:
            forename, surname = ascii_folded(forename), ascii_folded(surname)
        if self.surname_upper:
            surname = surname.upper()
        if r() < rates.blank:
            forename = ""
        if r() < rates.blank:
            surname = ""
        return forename, surname

    def dob(self, reg: Registration) -> str:
        if self.rng.random() < self.rates.blank:
            return ""
        return self.fmt(reg.dob)

    def postcode(self, postcode: str) -> str:
        rng, rates = self.rng, self.rates
        r = rng.random
        if r() < rates.blank:
            return ""
        if r() < rates.postcode_format:
            postcode = postcode_formatted(rng, postcode)
        if r() < rates.ocr:
            postcode = ocr(rng, postcode)
        return postcode

    def street(self, line_1: str) -> str:
        rng, rates = self.rng, self.rates
        if rng.random() < rates.address_format:
            line_1 = address_formatted(rng, line_1)
        if rng.random() < rates.typo:
            line_1 = typo(rng, line_1)
        return line_1

    def one_line_address(self, address: Address, *, with_postcode: bool = False) -> str:
        rng, rates = self.rng, self.rates
        if rng.random() < rates.blank:
            return ""
        parts = [self.street(address.line_1)]
        if rng.random() >= rates.address_format:
            parts.append(address.locality)  # clerks often leave the locality out
        parts.append(address.town)
        text = ", ".join(parts)
        if with_postcode:
            text = f"{text} {self.postcode(address.postcode)}".rstrip()
        return ascii_folded(text) if self.ascii_only else text

    def nhs(self, reg: Registration) -> str:
        rng, rates = self.rng, self.rates
        nhs = reg.nhs
        if not nhs:
            return ""
        if rng.random() < rates.blank:
            return ""
        if rng.random() < rates.ocr:
            nhs = ocr(rng, nhs)
        return nhs

    def when(self, d: date | None) -> str:
        return self.fmt(d) if d is not None else ""

    # --- output -----------------------------------------------------------------------------------
    def render(self, renderer: Renderer) -> Extract:
        self._mark_duplicates()
        self.events.sort(key=lambda e: (e.ordinal, e.tiebreak))
        width = max(7, len(str(len(self.events))))
        rows: list[list[str]] = []
        people: list[Person] = []
        rng, alternate = self.rng, self.rates.alternate_date_format
        for number, event in enumerate(self.events, start=1):
            reg = self.registration(event.person, event.variant)
            self.fmt = self.alternate_format if rng.random() < alternate else self.date_format
            record_id = f"{self.id_prefix}{number:0{width}d}"
            rows.append(
                renderer(self, record_id, reg, date.fromordinal(event.ordinal), event.payload)
            )
            people.append(event.person)
        return Extract(self.spec, rows, people)


def _weighted(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    x = rng.random() * sum(weight for _, weight in options)
    for value, weight in options:
        x -= weight
        if x < 0:
            return value
    return options[-1][0]


def _years_later(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # born on 29 February
        return d.replace(year=d.year + years, day=28)


# --- health ---------------------------------------------------------------------------------------
_ED = "Emergency department"
_ED_INFANT = (
    "Bronchiolitis",
    "Fever",
    "Feeding difficulty",
    "Vomiting",
    "Rash",
    "Fall from height",
)
_ED_CHILD = (
    "Fall",
    "Head injury",
    "Fever",
    "Vomiting",
    "Breathing difficulty",
    "Ingestion of foreign body",
    "Burn",
    "Fracture",
    "Asthma",
    "Laceration",
    "Sports injury",
)
_ED_ADULT = (
    "Chest pain",
    "Abdominal pain",
    "Shortness of breath",
    "Fall",
    "Back pain",
    "Laceration",
    "Fracture",
    "Sprain",
    "Road traffic collision",
    "Allergic reaction",
    "Headache",
    "Dental pain",
)
_ED_ELDER = (
    "Fall",
    "Chest pain",
    "Shortness of breath",
    "Confusion",
    "Urinary tract infection",
    "Collapse",
)
# Presentations that go with a household's risk: who shows them depends on age.
_ED_RISK_ADULT = {
    "domestic_abuse": ("Assault", "Facial injury - assault", "Domestic assault"),
    "substance_misuse": ("Alcohol intoxication", "Overdose", "Drug-related presentation"),
    "mental_health": ("Self-harm", "Mental health crisis", "Overdose"),
}
_ED_RISK_CHILD = {
    "neglect": ("Unexplained injury", "Failure to thrive", "Poor hygiene and infestation"),
    "domestic_abuse": ("Unexplained bruising", "Head injury"),
    "mental_health": ("Self-harm",),
}
_SUBSTANCE_REASONS = frozenset(("Alcohol intoxication", "Overdose", "Drug-related presentation"))
_MENTAL_REASONS = frozenset(("Self-harm", "Mental health crisis", "Overdose"))
_HEALTH_VISITS = (
    (42, 56, "6-8 week review"),
    (365, 395, "1 year review"),
    (730, 900, "2-2.5 year review"),
)
_SCHOOL_NURSING = (
    "Health assessment",
    "Immunisation",
    "Emotional health support",
    "Enuresis clinic",
    "Weight management",
)


def _ed_rate(age: int) -> float:
    """Emergency department attendances per person-year (England: about 0.4 overall)."""
    if age < 1:
        return 0.9
    if age < 5:
        return 0.5
    if age < 18:
        return 0.3
    if age < 75:
        return 0.38
    return 0.7


def _health_events(population: Population, agency: _Agency) -> None:
    rng = agency.rng
    r = rng.random
    booked: set[tuple[int, int]] = set()
    for person in population.people:
        factors = person.household.risk_factors
        dob_ord = person.dob.toordinal()
        start = max(_START_ORD, dob_ord)
        if start > _REF_ORD:
            continue
        mother = person.mother
        if dob_ord >= _START_ORD:
            if mother is not None and (mother.index, dob_ord) not in booked:
                booked.add((mother.index, dob_ord))  # twins share one pregnancy
                booking = dob_ord - rng.randrange(190, 240)
                if booking >= _START_ORD:
                    agency.add(date.fromordinal(booking), mother, "Maternity", "Antenatal booking")
                agency.add(person.dob, mother, "Maternity", "Delivery")
            newborn = min(_REF_ORD, dob_ord + rng.randrange(0, 3))
            agency.add(date.fromordinal(newborn), person, "Maternity", "Newborn examination")
            visit = dob_ord + rng.randrange(10, 15)
            if visit <= _REF_ORD:
                agency.add(date.fromordinal(visit), person, "Health visiting", "New birth visit")
        for lo, hi, reason in _HEALTH_VISITS:
            visit = dob_ord + rng.randrange(lo, hi)
            if _START_ORD <= visit <= _REF_ORD and r() < (0.7 if factors else 0.88):
                agency.add(date.fromordinal(visit), person, "Health visiting", reason)
        if person.school and r() < (0.55 if factors else 0.2):
            lo = max(start, _years_later(person.dob, 5).toordinal())
            if lo <= _REF_ORD:
                reason = (
                    "Looked after child health review"
                    if "neglect" in factors and r() < 0.2
                    else (rng.choice(_SCHOOL_NURSING))
                )
                agency.add(_day(rng, lo, _REF_ORD), person, "School nursing", reason)
        age = person.age
        years = (_REF_ORD - start) / 365.25
        rate = _ed_rate(max(0, age - 2))
        if factors:
            rate *= 1.8 if age >= 18 else 1.3
        for _ in range(_poisson(rng, rate * years)):
            agency.add(_day(rng, start, _REF_ORD), person, _ED, "")


def _health_render(
    a: _Agency, record_id: str, reg: Registration, when: date, payload: tuple
) -> list[str]:
    service, reason = payload
    rng, rates = a.rng, a.rates
    r = rng.random
    person = reg.person
    factors = person.household.risk_factors
    age = person.age_on(when)
    risk_reason = False
    if service == _ED:
        table = _ED_RISK_ADULT if age >= 16 else _ED_RISK_CHILD
        present = [f for f in factors if f in table]
        if present and r() < 0.35:
            reason, risk_reason = rng.choice(table[rng.choice(present)]), True
        else:
            reason = rng.choice(
                _ED_INFANT
                if age < 1
                else _ED_CHILD
                if age < 16
                else _ED_ADULT
                if age < 75
                else _ED_ELDER
            )
    if (age < 18 and factors and (risk_reason or r() < 0.3)) or reason.startswith(
        ("Assault", "Domestic")
    ):
        flag = "Y"
    else:
        flag = "Y" if r() < 0.004 else "N"
    if age < 12:
        substance = ""
    elif reason in _SUBSTANCE_REASONS or (
        "substance_misuse" in factors and age >= 18 and r() < 0.6
    ):
        substance = "Y"
    else:
        substance = "" if r() < 0.3 else "N"
    if reason in _MENTAL_REASONS or ("mental_health" in factors and age >= 12 and r() < 0.5):
        mental = "Y"
    else:
        mental = "N"

    forename, surname = a.names(reg, when)
    dob = a.dob(reg)
    nhs = a.nhs(reg)
    days_old = when.toordinal() - person.dob.toordinal()
    if days_old <= 42 and forename and r() < rates.newborn_placeholder:
        # Babies are registered before they are named.
        forename = rng.choice(("Baby", "Baby", "Baby Boy" if person.sex == "M" else "Baby Girl"))
        if days_old <= 2 and r() < 0.5:
            nhs = ""
    if service == _ED and r() < rates.unknown_placeholder:
        # Brought in unconscious or unwilling to give details.
        forename = rng.choice(("Unknown", "Not Known", "UNKNOWN"))
        surname = rng.choice(("Unknown", "Not Known", "Patient"))
        dob, nhs = rng.choice(("", a.fmt(date(1900, 1, 1)))), ""
    gp = "" if r() < rates.blank * 3 else person.household.gp_practice
    postcode = a.postcode(person.address_at(when).postcode)
    return [
        record_id,
        nhs,
        forename,
        surname,
        dob,
        postcode,
        gp,
        service,
        a.fmt(when),
        reason,
        flag,
        substance,
        mental,
    ]


# --- education ------------------------------------------------------------------------------------
# The three school census days of 2025/26 (first Thursday of October, third of January and May).
CENSUS_TERMS = (
    ("Autumn 2025", date(2025, 10, 2)),
    ("Spring 2026", date(2026, 1, 15)),
    ("Summer 2026", date(2026, 5, 21)),
)


def _education_events(population: Population, agency: _Agency) -> None:
    rng = agency.rng
    r = rng.random
    for person in population.people:
        if not person.school:
            continue
        h = person.household
        risky = h.risk
        secondary = (person.year_group or 0) >= 7
        sen = _weighted(
            rng,
            (("N", 0.70), ("K", 0.22), ("E", 0.08))
            if risky
            else (("N", 0.85), ("K", 0.12), ("E", 0.03)),
        )
        fsm = "Y" if r() < (0.75 if risky else 0.5 if h.social_tenant else 0.08) else "N"
        base = rng.gauss(84, 8) if risky else rng.gauss(95, 3.5)
        x = r()
        first_term = 2 if x < 0.03 else 1 if x < 0.08 else 0  # joined during the year
        excluded = False
        for term, census_day in CENSUS_TERMS[first_term:]:
            if excluded:
                break
            attendance = min(100.0, max(20.0, base + rng.gauss(0, 2)))
            if risky:
                fixed = _poisson(rng, 0.6 if secondary else 0.15)
            else:
                fixed = _poisson(rng, 0.04 if secondary else 0.005)
            excluded = risky and secondary and r() < 0.012
            agency.add(census_day, person, term, attendance, fixed, int(excluded), sen, fsm)


def _education_render(
    a: _Agency, record_id: str, reg: Registration, when: date, payload: tuple
) -> list[str]:
    term, attendance, fixed, permanent, sen, fsm = payload
    rng, rates = a.rng, a.rates
    person = reg.person
    forename, surname = a.names(reg, when)
    upn = reg.upn
    if rng.random() < rates.blank:
        upn = ""
    elif rng.random() < rates.ocr:
        upn = ocr(rng, upn)
    return [
        record_id,
        upn,
        forename,
        surname,
        a.dob(reg),
        a.one_line_address(person.address_at(when), with_postcode=True),
        person.school,
        term,
        f"{attendance:.1f}",
        str(fixed),
        str(permanent),
        sen,
        fsm,
    ]


# --- police ---------------------------------------------------------------------------------------
_PARTNERS = ("mother", "father", "stepfather", "partner")


def _grade(rng: random.Random, escalation: float) -> str:
    x = rng.random() + escalation
    return "high" if x > 0.9 else "medium" if x > 0.6 else "standard"


def _police_events(population: Population, agency: _Agency) -> None:
    rng = agency.rng
    r = rng.random
    for h in population.households:
        factors = h.risk_factors
        if "domestic_abuse" in factors:
            partners = [m for m in h.members if m.relation in _PARTNERS and m.age >= 18]
            women = [m for m in partners if m.sex == "F"]
            men = [m for m in partners if m.sex == "M"]
            victim = women[0] if women else (men[0] if men else None)
            perpetrator = next((m for m in men if m is not victim), None)
            if victim is not None:
                # Domestic abuse in the statutory sense is between people aged 16 or over.
                earliest = max(_START_ORD, _years_later(victim.dob, 16).toordinal())
                if perpetrator is not None:
                    earliest = max(earliest, _years_later(perpetrator.dob, 16).toordinal())
                    if perpetrator.joined_on is not None:
                        earliest = max(earliest, perpetrator.joined_on.toordinal())
                count = _geometric_extra(rng, 0.62, 12)
                days = sorted(_day(rng, earliest, _REF_ORD) for _ in range(count))
                for i, day in enumerate(days):
                    grade = _grade(rng, 0.25 * i / max(1, count - 1))
                    present = [
                        c for c in h.members if c.dob <= day and c.age_on(day) < 18 and r() < 0.7
                    ]
                    incident = [""]
                    summary = notes.police_domestic_abuse(
                        rng, grade=grade, children_present=bool(present), factors=factors
                    )
                    agency.add(day, victim, incident, "Domestic abuse", "Victim", grade, summary)
                    if perpetrator is not None:
                        agency.add(
                            day,
                            perpetrator,
                            incident,
                            "Domestic abuse",
                            "Perpetrator",
                            grade,
                            summary,
                        )
                    for child in present:
                        agency.add(
                            day, child, incident, "Domestic abuse", "Child present", grade, summary
                        )
        if factors and h.children and ("neglect" in factors or r() < 0.2) and r() < 0.4:
            for _ in range(_geometric_extra(rng, 0.3, 3)):
                day = _day(rng, _START_ORD, _REF_ORD)
                incident = [""]
                summary = notes.police_welfare(rng, factors=factors)
                for child in h.members:
                    if child.dob <= day and child.age_on(day) < 18:
                        agency.add(
                            day, child, incident, "Child welfare concern", "Subject", "", summary
                        )
                carer = next((m for m in h.members if m.relation in _PARTNERS), None)
                if carer is not None and r() < 0.7:
                    agency.add(
                        day, carer, incident, "Child welfare concern", "Parent/carer", "", summary
                    )
        for person in h.members:
            # Missing episodes: children aged 12-17 at some point in the period.
            lo = max(_START_ORD, _years_later(person.dob, 12).toordinal())
            hi = min(_REF_ORD, _years_later(person.dob, 18).toordinal() - 1)
            if lo <= hi and r() < (0.3 if factors else 0.005):
                exploited = r() < (0.3 if factors else 0.05)
                for _ in range(_geometric_extra(rng, 0.55 if factors else 0.2, 10)):
                    day = _day(rng, lo, hi)
                    grade = _weighted(rng, (("low", 0.5), ("medium", 0.38), ("high", 0.12)))
                    summary = notes.police_missing(
                        rng, age=person.age_on(day), grade=grade, exploited=exploited
                    )
                    agency.add(
                        day, person, [""], "Missing person", "Missing person", grade, summary
                    )
            _police_crimes(agency, person, factors)


def _police_crimes(agency: _Agency, person: Person, factors: tuple[str, ...]) -> None:
    rng = agency.rng
    r = rng.random
    lo = max(_START_ORD, _years_later(person.dob, 12).toordinal())
    if lo > _REF_ORD:
        return
    roles = []
    if person.offender:
        roles += ["Suspect"] * _geometric_extra(rng, 0.45, 8)
    if person.age >= 16 and r() < (0.06 if factors else 0.02):
        roles.append("Victim")
    if person.age >= 16 and r() < 0.004:
        roles.append("Witness")
    for role in roles:
        offence, text = rng.choice(notes.CRIMES if role == "Suspect" else notes.CRIMES_WITH_VICTIMS)
        if role == "Suspect" and "substance_misuse" in factors and r() < 0.4:
            offence, text = notes.DRUGS_POSSESSION
        day = _day(rng, lo, _REF_ORD)
        summary = notes.police_crime(rng, offence=offence, text=text, role=role)
        agency.add(day, person, [""], offence, role, "", summary)


def _pnc_written(rng: random.Random, pnc: str) -> str:
    """The short form (08/56560Z) that some forces' systems print."""
    year, _, rest = pnc.partition("/")
    return f"{year[2:]}/{rest[:7].lstrip('0') or '0'}{rest[7:]}"


def _police_render(
    a: _Agency, record_id: str, reg: Registration, when: date, payload: tuple
) -> list[str]:
    incident, incident_type, role, grade, summary = payload
    rng, rates = a.rng, a.rates
    r = rng.random
    person = reg.person
    if not incident[0]:
        a.serial += 1
        incident[0] = f"{when.year % 100:02d}/{a.serial:06d}"
    forename, surname = a.names(reg, when)
    dob = "" if r() < rates.dob_missing_police else a.dob(reg)
    pnc = ""
    if person.pnc_id and r() < (0.9 if role in ("Suspect", "Perpetrator") else 0.2):
        pnc = person.pnc_id
        if r() < 0.1:
            pnc = _pnc_written(rng, pnc)
        if r() < rates.ocr:
            pnc = ocr(rng, pnc)
    address = person.address_at(when)
    return [
        record_id,
        incident[0],
        forename,
        surname,
        dob,
        a.one_line_address(address),
        a.postcode(address.postcode),
        pnc,
        a.fmt(when),
        incident_type,
        role,
        grade,
        summary,
        *a.contacts.police(incident[0], incident_type),
    ]


# --- social care ----------------------------------------------------------------------------------
_CARERS = ("mother", "father", "stepfather")


def _referral_source(rng: random.Random, factors: tuple[str, ...]) -> str:
    options: tuple[tuple[str, float], ...] = (
        ("Police", 0.45 if "domestic_abuse" in factors else 0.12),
        ("Schools", 0.2),
        ("Health services", 0.15),
        ("LA services", 0.08),
        ("Housing", 0.04),
        ("Individual", 0.08),
        ("Anonymous", 0.04),
    )
    return _weighted(rng, options)


def _category_of_need(rng: random.Random, factors: tuple[str, ...]) -> str:
    # Children in Need census codes: N1 abuse or neglect, N3 parental illness or disability,
    # N4 family in acute stress, N5 family dysfunction, N9 cases other than children in need.
    if "neglect" in factors or ("domestic_abuse" in factors and rng.random() < 0.6):
        return "N1"
    if "mental_health" in factors and rng.random() < 0.5:
        return "N3"
    return rng.choice(("N4", "N5"))


def _cp_category(factors: tuple[str, ...]) -> str:
    if len(factors) > 2:
        return "Multiple"
    if "neglect" in factors:
        return "Neglect"
    if "domestic_abuse" in factors:
        return "Emotional abuse"
    return "Physical abuse" if "substance_misuse" in factors else "Emotional abuse"


def _social_care_events(population: Population, agency: _Agency) -> None:
    rng = agency.rng
    r = rng.random
    for h in population.households:
        children = [m for m in h.members if m.age_on(PERIOD_START) < 18]
        if not children:
            continue
        factors = h.risk_factors
        if not factors:
            for child in children:
                if r() < 0.015:
                    lo = max(_START_ORD, child.dob.toordinal())
                    hi = min(_REF_ORD, _years_later(child.dob, 18).toordinal() - 1)
                    day = _day(rng, lo, hi)
                    source = _referral_source(rng, ())
                    outcome = rng.choice(("No further action", "Signposted to early help"))
                    note = notes.social_care_child(rng, source=source, factors=(), outcome=outcome)
                    agency.add(day, child, "Child", source, "N9", None, None, "", "N", note)
            continue
        if r() >= 0.85:
            continue
        count = _geometric_extra(rng, 0.5, 5)
        days = sorted(_day(rng, _START_ORD, _REF_ORD) for _ in range(count))
        plan_at = rng.randrange(count) if r() < 0.4 else -1
        for i, day in enumerate(days):
            eligible = [c for c in children if c.dob <= day and c.age_on(day) < 18]
            if not eligible:
                continue
            source = _referral_source(rng, factors)
            category = _category_of_need(rng, factors)
            plan = i == plan_at
            start = end = None
            if plan:
                start = day + timedelta(days=rng.randrange(14, 60))
                end = start + timedelta(days=rng.randrange(90, 700))
                if start > REFERENCE_DATE:
                    plan, start = False, None
                if end > REFERENCE_DATE:
                    end = None  # plan still open at the extract date
            cp_category = _cp_category(factors) if plan else ""
            outcome = (
                "Initial child protection conference; child protection plan"
                if plan
                else rng.choice(
                    (
                        "Child and family assessment completed",
                        "Strategy discussion held; section 47 enquiry",
                        "Child in need plan",
                        "Signposted to early help",
                    )
                )
            )
            for j, child in enumerate(eligible):
                if j and r() >= 0.9:
                    continue
                looked_after = "Y" if plan and r() < 0.12 else "N"
                note = notes.social_care_child(rng, source=source, factors=factors, outcome=outcome)
                agency.add(
                    day,
                    child,
                    "Child",
                    source,
                    category,
                    start,
                    end,
                    cp_category,
                    looked_after,
                    note,
                )
            if plan or r() < 0.5:
                for adult in h.members:
                    if adult.relation in _CARERS and adult.age_on(day) >= 18:
                        if adult.joined_on is not None and adult.joined_on > day:
                            continue
                        note = notes.social_care_parent(rng, factors=factors, plan=plan)
                        agency.add(day, adult, "Parent/carer", source, "", None, None, "", "", note)


def _social_care_render(
    a: _Agency, record_id: str, reg: Registration, when: date, payload: tuple
) -> list[str]:
    role, source, category, start, end, cp_category, looked_after, note = payload
    rng, rates = a.rng, a.rates
    person = reg.person
    forename, surname = a.names(reg, when)
    gender = "" if rng.random() < rates.blank else ("Female" if person.sex == "F" else "Male")
    address = person.address_at(when)
    locality = "" if rng.random() < rates.address_format else address.locality
    return [
        record_id,
        reg.local_id,
        role,
        forename,
        surname,
        a.dob(reg),
        gender,
        "" if rng.random() < rates.blank else a.street(address.line_1),
        locality,
        a.postcode(address.postcode),
        a.nhs(reg),
        a.fmt(when),
        source,
        category,
        a.when(start),
        a.when(end),
        cp_category,
        looked_after,
        note,
        *a.contacts.social_care(person.household.household_id, when.year),
    ]


# --- housing --------------------------------------------------------------------------------------
# Rent account snapshots at each financial year end, as a housing management system reports them.
SNAPSHOTS = tuple(date(year, 3, 31) for year in range(2022, 2027))
_ARREARS_RISKY = (("None", 0.35), ("£1-£499", 0.3), ("£500-£1,499", 0.2), ("£1,500+", 0.15))
_ARREARS = (("None", 0.8), ("£1-£499", 0.14), ("£500-£1,499", 0.05), ("£1,500+", 0.01))


def _tenancy_ref(rng: random.Random, used: set[int]) -> str:
    while True:
        number = rng.randrange(100_000, 1_000_000)
        if number not in used:
            used.add(number)
            return f"T{number}"


def _housing_events(population: Population, agency: _Agency) -> None:
    rng = agency.rng
    r = rng.random
    used: set[int] = set()
    for h in population.households:
        adults = [m for m in h.members if m.age >= 18]
        if not adults:
            continue
        lead = next((m for m in adults if m.relation == "mother"), adults[0])
        joint = [m for m in adults if m is not lead and m.relation in _PARTNERS and r() < 0.4]
        tenants = [(lead, "Tenant"), *((m, "Joint tenant") for m in joint)]
        risky = h.risk
        if h.temporary_address is not None and h.temporary_from is not None:
            ref = _tenancy_ref(rng, used)
            placed = h.temporary_from
            applicants = [(m, rel) for m, rel in tenants if m.age_on(placed) >= 18]
            listed = applicants + [
                (m, "Household member")
                for m in h.members
                if m.dob <= placed and m.age_on(placed) < 18 and applicants
            ]
            for person, relationship in listed:
                if person.joined_on is None or person.joined_on <= placed:
                    agency.add(
                        h.temporary_from,
                        person,
                        ref,
                        relationship,
                        h.temporary_address,
                        "Temporary accommodation",
                        "None",
                        "N",
                        "Y",
                    )
        if not h.social_tenant:
            continue
        # (address, tenancy start, tenancy end or None while it runs)
        spells: list[tuple[Address, date, date | None]] = [
            (h.history()[-1][1], h.tenancy_start, None)
        ]
        if h.previous_social_tenant and h.previous_address is not None and h.moved_on is not None:
            left = h.temporary_from or h.moved_on
            began = left - timedelta(days=rng.randrange(400, 4000))
            spells.insert(0, (h.previous_address, began, left))
        for address, started, ended in spells:
            ref = _tenancy_ref(rng, used)
            snapshots = [s for s in SNAPSHOTS if started <= s and (ended is None or s < ended)]
            members_listed = r() < 0.4
            for k, snapshot in enumerate(snapshots):
                arrears = _weighted(rng, _ARREARS_RISKY if risky else _ARREARS)
                status = "Introductory" if (snapshot - started).days < 365 else "Secure"
                if arrears == "£1,500+" and r() < 0.3:
                    status = "Notice seeking possession"
                asb = "Y" if r() < (0.15 if risky else 0.01) else "N"
                listed = list(tenants)
                if members_listed and k == len(snapshots) - 1:
                    listed += [(m, "Household member") for m in h.members if m not in adults]
                for person, relationship in listed:
                    if person.dob > snapshot or (
                        person.joined_on is not None and person.joined_on > snapshot
                    ):
                        continue
                    if relationship != "Household member" and person.age_on(snapshot) < 18:
                        continue
                    row = (ref, relationship, address, status, arrears, asb, "N")
                    agency.add(snapshot, person, *row)
            if ended is not None:
                for person, relationship in tenants:
                    if person.age_on(ended) >= 18 and person.joined_on is None:
                        row = (ref, relationship, address, "Ended", "None", "N", "N")
                        agency.add(ended, person, *row)


def _housing_render(
    a: _Agency, record_id: str, reg: Registration, when: date, payload: tuple
) -> list[str]:
    ref, relationship, address, status, arrears, asb, temporary = payload
    forename, surname = a.names(reg, when)
    return [
        record_id,
        ref,
        relationship,
        forename,
        surname,
        a.dob(reg),
        a.one_line_address(address),
        a.postcode(address.postcode),
        a.fmt(when),
        status,
        arrears,
        asb,
        temporary,
    ]


Renderer = Callable[[_Agency, str, Registration, date, tuple], list[str]]
# spec -> (events, renderer, record id prefix, agency options)
_AGENCIES: tuple[tuple[DatasetSpec, Callable[[Population, _Agency], None], Renderer, dict], ...] = (
    (
        SOCIAL_CARE,
        _social_care_events,
        _social_care_render,
        # Social care records carry an NHS number only sometimes.
        {"id_prefix": "REF", "nhs_recorded": 0.6, "local_ids": True},
    ),
    # Police systems hold surnames in capitals and names without diacritics.
    (
        POLICE,
        _police_events,
        _police_render,
        {"id_prefix": "PR", "surname_upper": True, "ascii_only": True},
    ),
    (HEALTH, _health_events, _health_render, {"id_prefix": "ATT"}),
    (EDUCATION, _education_events, _education_render, {"id_prefix": "ED"}),
    (HOUSING, _housing_events, _housing_render, {"id_prefix": "HR", "ascii_only": True}),
)


def extracts_build(*, population: Population, seed: int, rates: NoiseRates) -> list[Extract]:
    """Every agency's extract of `population`, with errors at `rates`.

    Each agency draws from its own random stream, so changing one agency's rules leaves the others'
    files unchanged for the same seed.
    """
    extracts = []
    for spec, events, renderer, options in _AGENCIES:
        # Test data, not secrets: a seeded, reproducible generator is the point (S311).
        name = f"sharehub-synthetic:{seed}:{spec.agency}"
        rng = random.Random(name)  # noqa: S311
        agency = _Agency(spec, rng, rates, rng_name=name, **options)
        events(population, agency)
        extracts.append(agency.render(renderer))
    return extracts
