"""The true population behind the synthetic extracts: people, households, addresses, identifiers.

Everything here is the truth that agencies later record imperfectly (synthetic.extracts adds the
agencies' view and synthetic.noise their errors). The shape follows what makes linkage hard in
DOMAIN.md: households of look-alikes (siblings sharing surname and address, twins sharing a date of
birth, fathers and sons sharing a forename), surnames that change on marriage or when a child takes
a step-parent's name, and households that move during the five years the extracts cover.

All randomness comes from one random.Random passed in, consumed in a fixed order, so a seed gives
the same population on every machine. Sets are used for membership only, never iterated, because
the iteration order of a set of strings changes between runs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from sharehub_bridge.identifiers import nhs_number_check_digit, pnc_check_letter, upn_check_letter
from synthetic import names

# A fixed reference date rather than today, so that a seed gives the same files in any year.
REFERENCE_DATE = date(2026, 6, 30)
# Extracts cover the five years before the reference date.
PERIOD_START = date(2021, 7, 1)
# The school year the education extract describes, and the day that fixes each child's year group.
SCHOOL_YEAR_START = date(2025, 9, 1)
_AGE_CUTOFF = date(2025, 8, 31)

_ADULT_BORN_BY = date(REFERENCE_DATE.year - 18, REFERENCE_DATE.month, REFERENCE_DATE.day)
_REF_ORD = REFERENCE_DATE.toordinal()
_START_ORD = PERIOD_START.toordinal()
_EARLIEST = date.min

# The local authority's DfE LA number, and neighbours' numbers for children who moved in with a
# UPN from elsewhere.
HOME_LA = "383"
OTHER_LAS = ("380", "381", "382", "384", "370", "372")

# Household kinds and their share of households, roughly as in the 2021 Census for an English
# city: a quarter live alone, a fifth are couples with dependent children.
HOUSEHOLD_KINDS: tuple[tuple[str, float], ...] = (
    ("single_adult", 0.29),
    ("couple", 0.24),
    ("couple_children", 0.17),
    ("single_parent", 0.08),
    ("stepfamily", 0.04),
    ("multigenerational", 0.05),
    ("adult_children", 0.08),
    ("shared", 0.05),
)
# Base chance that a household of each kind is a safeguarding risk, before the district's
# deprivation multiplier; overall about 8% of households, most of them with children.
_RISK_BY_KIND = {
    "single_adult": 0.03,
    "couple": 0.02,
    "couple_children": 0.08,
    "single_parent": 0.22,
    "stepfamily": 0.24,
    "multigenerational": 0.08,
    "adult_children": 0.05,
    "shared": 0.06,
}
# Factors a risky household carries (at least one); DASH-style domestic abuse needs a couple.
RISK_FACTORS = ("domestic_abuse", "substance_misuse", "mental_health", "neglect")
_RISK_FACTOR_RATES = (0.55, 0.40, 0.45, 0.35)

TWIN_BIRTH_RATE = 0.015  # share of births that are twins (ONS: about 1 maternity in 65)
FATHER_SON_SAME_FORENAME = 0.04


@dataclass(frozen=True, slots=True)
class Address:
    """A postal address. `line_1` holds the flat and house number and the street."""

    line_1: str
    locality: str
    town: str
    postcode: str
    district: str

    def one_line(self) -> str:
        return f"{self.line_1}, {self.locality}, {self.town}"


@dataclass(slots=True, eq=False)
class Person:
    """One real (synthetic) person, with the history agencies' records are drawn from."""

    index: int
    household: Household
    sex: str  # "F" or "M"
    forename: str
    middle_name: str
    dob: date
    relation: str  # within the household: mother, father, stepfather, child, grandmother, ...
    group: str  # naming tradition, see names.GROUPS
    # (effective from, value) pairs, oldest first; the first starts at date.min.
    surnames: list[tuple[date, str]]
    addresses: list[tuple[date, Address]] = field(default_factory=list)
    person_id: str = ""
    nhs_number: str = ""
    upn: str = ""
    pnc_id: str = ""
    school: str = ""  # the school attended in the school year the education extract covers
    mother: Person | None = None
    father: Person | None = None
    joined_on: date | None = None  # joined the household during the period (a new partner)
    offender: bool = False  # has a police record as a suspect, so a PNC id

    @property
    def surname(self) -> str:
        return self.surnames[-1][1]

    def surname_at(self, when: date) -> str:
        surnames = self.surnames
        for i in range(len(surnames) - 1, 0, -1):
            if surnames[i][0] <= when:
                return surnames[i][1]
        return surnames[0][1]

    def address_at(self, when: date) -> Address:
        addresses = self.addresses
        for i in range(len(addresses) - 1, 0, -1):
            if addresses[i][0] <= when:
                return addresses[i][1]
        return addresses[0][1]

    def age_on(self, when: date) -> int:
        dob = self.dob
        return when.year - dob.year - ((when.month, when.day) < (dob.month, dob.day))

    @property
    def age(self) -> int:
        return self.age_on(REFERENCE_DATE)

    @property
    def year_group(self) -> int | None:
        """National Curriculum year in the covered school year (0 = Reception), None if not 4-15."""
        age = self.age_on(_AGE_CUTOFF) - 4
        return age if 0 <= age <= 11 else None

    @property
    def at_school(self) -> bool:
        year = self.year_group
        return year is not None and year <= 11


@dataclass(slots=True, eq=False)
class Household:
    index: int
    kind: str
    group: str
    district: str
    members: list[Person] = field(default_factory=list)
    household_id: str = ""
    address: Address | None = None  # current address
    previous_address: Address | None = None
    moved_on: date | None = None
    temporary_address: Address | None = None  # held between previous_address and address
    temporary_from: date | None = None
    risk_factors: tuple[str, ...] = ()
    social_tenant: bool = False
    tenancy_start: date = _EARLIEST
    previous_social_tenant: bool = False
    gp_practice: str = ""
    primary_school: str = ""
    secondary_school: str = ""

    @property
    def risk(self) -> bool:
        return bool(self.risk_factors)

    def history(self) -> list[tuple[date, Address]]:
        if self.address is None:
            raise RuntimeError("the household has no address yet")
        if self.moved_on is None or self.previous_address is None:
            return [(_EARLIEST, self.address)]
        steps = [(_EARLIEST, self.previous_address)]
        if self.temporary_address is not None and self.temporary_from is not None:
            steps.append((self.temporary_from, self.temporary_address))
        steps.append((self.moved_on, self.address))
        return steps

    @property
    def adults(self) -> list[Person]:
        return [p for p in self.members if p.age >= 18]

    @property
    def children(self) -> list[Person]:
        return [p for p in self.members if p.age < 18]


@dataclass(frozen=True, slots=True)
class School:
    name: str
    number: str  # DfE establishment number, 4 digits
    phase: str  # "primary" or "secondary"
    district: str


@dataclass(slots=True)
class Population:
    people: list[Person]
    households: list[Household]
    schools: dict[str, School]


def gendered_surname(surname: str, sex: str) -> str:
    """Polish surnames ending -ski/-cki/-dzki take -ska/-cka/-dzka for women and girls."""
    if sex == "F" and surname.endswith(("ski", "cki", "dzki")):
        return surname[:-1] + "a"
    return surname


def _weighted(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    x = rng.random() * sum(weight for _, weight in options)
    for value, weight in options:
        x -= weight
        if x < 0:
            return value
    return options[-1][0]


def _date_between(rng: random.Random, start: date, end: date) -> date:
    lo, hi = start.toordinal(), end.toordinal()
    return date.fromordinal(lo + rng.randrange(hi - lo + 1)) if hi > lo else start


class _Builder:
    """Builds a Population; a class only to share the random source and the id allocators."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.people: list[Person] = []
        self.households: list[Household] = []
        self._nhs_used: set[int] = set()
        self._pnc_used: set[int] = set()
        self._upn_serials: dict[tuple[str, str, str], int] = {}
        self._postcodes_used: set[str] = set()
        self._address_pool: dict[str, list[Address]] = {d: [] for d in names.DISTRICTS}
        self._streets_used: dict[str, set[str]] = {d: set() for d in names.DISTRICTS}
        self._district_options = tuple(names.DISTRICT_WEIGHTS.items())
        self.schools: dict[str, School] = {}
        self._primaries: dict[str, list[School]] = {}
        self._secondaries: dict[str, list[School]] = {}
        self._practices: dict[str, list[str]] = {}
        self._temporary_blocks: list[tuple[str, str, str]] = []
        self._temporary_flats = 0
        self._build_services()

    # --- places -----------------------------------------------------------------------------------
    def _build_services(self) -> None:
        rng = self.rng
        stems = list(names.SCHOOL_STEMS)
        rng.shuffle(stems)
        numbers = rng.sample(range(2001, 4000), 40)
        secondary_numbers = rng.sample(range(4001, 5000), 20)
        practice_names: set[str] = set()
        for district in names.DISTRICTS:
            primaries = []
            for _ in range(3):
                name = ""
                while not name or name in self.schools:
                    pattern = rng.choice(names.PRIMARY_SCHOOL_PATTERNS)
                    stem = stems.pop() if stems else rng.choice(names.SCHOOL_STEMS)
                    name = pattern.format(stem=stem, saint=rng.choice(names.SAINTS))
                school = School(name, str(numbers.pop()), "primary", district)
                self.schools[name] = school
                primaries.append(school)
            self._primaries[district] = primaries
            name = ""
            while not name or name in self.schools:
                pattern = rng.choice(names.SECONDARY_SCHOOL_PATTERNS)
                stem = stems.pop() if stems else rng.choice(names.SCHOOL_STEMS)
                name = pattern.format(stem=stem)
            secondary = School(name, str(secondary_numbers.pop()), "secondary", district)
            self.schools[name] = secondary
            self._secondaries[district] = [secondary]
            practices: list[str] = []
            while len(practices) < 3:
                stem = rng.choice(names.STREET_STEMS)
                name = rng.choice(names.GP_PRACTICE_PATTERNS).format(stem=stem)
                if name not in practice_names:
                    practice_names.add(name)
                    practices.append(name)
            self._practices[district] = practices
        for block in names.TEMPORARY_ACCOMMODATION:
            district = rng.choice(tuple(names.DISTRICTS))
            self._temporary_blocks.append((block, district, self._new_postcode(district)))

    def _new_postcode(self, district: str, sector: int | None = None) -> str:
        # Inward code: sector digit then two unit letters, never C, I, K, M, O or V.
        # A sector holds 400 units; once a street's sector is nearly full, move to another.
        rng = self.rng
        for attempt in range(10_000):
            s = sector if sector is not None and attempt < 50 else rng.randrange(1, 10)
            code = f"{district} {s}{rng.choice(_UNIT_LETTERS)}{rng.choice(_UNIT_LETTERS)}"
            if code not in self._postcodes_used:
                self._postcodes_used.add(code)
                return code
        raise RuntimeError(f"postcode district {district} is full; generate fewer people")

    def _add_street(self, district: str) -> None:
        rng = self.rng
        used = self._streets_used[district]
        while True:
            street = f"{rng.choice(names.STREET_STEMS)} {rng.choice(names.STREET_SUFFIXES)}"
            if street not in used:
                used.add(street)
                break
        localities = names.DISTRICTS[district][0]
        locality = rng.choice(localities)
        sector = rng.randrange(1, 10)
        houses = rng.randrange(12, 160)
        flats = rng.random() < 0.15
        pool = self._address_pool[district]
        postcode = self._new_postcode(district, sector)
        run = 0
        for number in range(1, houses + 1):
            # A postcode unit covers a run of about fifteen neighbouring doors.
            if run >= rng.randrange(8, 25):
                postcode = self._new_postcode(district, sector)
                run = 0
            run += 1
            if flats and number % 2 == 1:
                for flat in range(1, rng.randrange(3, 9)):
                    pool.append(
                        Address(
                            f"Flat {flat}, {number} {street}",
                            locality,
                            names.TOWN,
                            postcode,
                            district,
                        )
                    )
            else:
                pool.append(Address(f"{number} {street}", locality, names.TOWN, postcode, district))
        # Draw doors in random order so neighbours are not consecutive households.
        rng.shuffle(pool)

    def _address(self, district: str) -> Address:
        pool = self._address_pool[district]
        if not pool:
            self._add_street(district)
        return pool.pop()

    def _district(self) -> str:
        return _weighted(self.rng, self._district_options)

    def _temporary_address(self) -> Address:
        block, district, postcode = self.rng.choice(self._temporary_blocks)
        self._temporary_flats += 1
        flat = 1 + self._temporary_flats % 40
        locality = names.DISTRICTS[district][0][0]
        return Address(f"Flat {flat}, {block}", locality, names.TOWN, postcode, district)

    # --- people -----------------------------------------------------------------------------------
    def _forename(self, group: str, sex: str, born: int) -> str:
        if group == "white_british":
            cohort = "old" if born < 1970 else ("mid" if born < 2000 else "young")
            return self.rng.choice(names.WB_FORENAMES[(cohort, sex)])
        return self.rng.choice(names.FORENAMES[(group, sex)])

    def _surname(self, group: str) -> str:
        rng = self.rng
        if group == "white_british" and rng.random() < 0.03:
            return rng.choice(names.WB_DOUBLE_BARRELLED)
        return rng.choice(names.SURNAMES[group])

    def _dob_for_age(self, age: int) -> date:
        # Uniform over the 365 days that give exactly `age` at the reference date (30 June, so no
        # 29 February edge).
        latest = date(REFERENCE_DATE.year - age, REFERENCE_DATE.month, REFERENCE_DATE.day)
        return date.fromordinal(latest.toordinal() - self.rng.randrange(365))

    def _person(
        self,
        household: Household,
        *,
        sex: str,
        dob: date,
        relation: str,
        surname: str,
        group: str | None = None,
        forename: str | None = None,
    ) -> Person:
        rng = self.rng
        group = group or household.group
        middle = ""
        if forename is None:
            forename = self._forename(group, sex, dob.year)
            if group == "south_asian" and sex == "M" and rng.random() < 0.25:
                # Registered as Mohammed, known by the middle name.
                middle, forename = forename, rng.choice(names.SA_PROPHET_NAMES)
        if not middle and rng.random() < (0.75 if group == "white_british" else 0.4):
            middle = self._forename(group, sex, dob.year)
            if middle == forename:
                middle = ""
        if group == "south_asian" and dob < _ADULT_BORN_BY and rng.random() < 0.25:
            # Adults only, so that siblings and twins still share a surname.
            surname = self._religious_surname(surname, sex)
        person = Person(
            index=len(self.people),
            household=household,
            sex=sex,
            forename=forename,
            middle_name=middle,
            dob=dob,
            relation=relation,
            group=group,
            surnames=[(_EARLIEST, gendered_surname(surname, sex))],
        )
        self.people.append(person)
        household.members.append(person)
        return person

    def _religious_surname(self, family_surname: str, sex: str) -> str:
        """Kaur/Singh for Sikhs, Begum/Bibi for Muslim women, in place of the family name."""
        if family_surname in names.SIKH_FAMILY_SURNAMES:
            return "Kaur" if sex == "F" else "Singh"
        if sex == "F" and family_surname not in names.HINDU_OR_CHRISTIAN_SURNAMES:
            return self.rng.choice(names.MUSLIM_WOMEN_SURNAMES)
        return family_surname

    def _adult(
        self,
        household: Household,
        *,
        sex: str,
        age: int,
        relation: str,
        surname: str | None = None,
        group: str | None = None,
    ) -> Person:
        group = group or household.group
        return self._person(
            household,
            sex=sex,
            dob=self._dob_for_age(age),
            relation=relation,
            surname=surname or self._surname(group),
            group=group,
        )

    def _partner_group(self, household: Household) -> str:
        # About one couple in twelve crosses naming traditions.
        if self.rng.random() < 0.08:
            return self.rng.choice(names.GROUPS)
        return household.group

    def _marry(self, wife: Person, husband_surname: str, married_on: date | None) -> None:
        """Give `wife` her married surname, from `married_on` (None: before the extracts begin)."""
        rng = self.rng
        x = rng.random()
        if x < 0.10:
            return  # kept her own name
        maiden = wife.surname
        married = gendered_surname(husband_surname, "F")
        if x < 0.15 and "-" not in maiden and "-" not in married and maiden != married:
            married = f"{maiden}-{married}"
        if married_on is None or married == maiden:
            wife.surnames = [(_EARLIEST, married)]
        else:
            wife.surnames = [(_EARLIEST, maiden), (married_on, married)]

    def _children(
        self,
        household: Household,
        *,
        count: int,
        eldest_dob: date,
        mother: Person | None,
        father: Person | None,
        surname: str,
        relation: str = "child",
        group: str | None = None,
    ) -> list[Person]:
        """Siblings from `eldest_dob` onwards, 11 months to 6 years apart, some of them twins."""
        rng = self.rng
        kids: list[Person] = []
        born = eldest_dob
        # Births stop at the reference date and when the mother would be past 45.
        last = REFERENCE_DATE
        if mother is not None:
            last = min(last, date(mother.dob.year + 46, 1, 1))
        while len(kids) < count and born <= last:
            twins = 2 if rng.random() < TWIN_BIRTH_RATE else 1
            first_sex = ""
            for t in range(twins):
                sex = "F" if rng.random() < 0.49 else "M"
                if t == 1 and rng.random() < 0.35:
                    # Identical twins; with fraternal twins' even chance, about two pairs in three
                    # are the same sex.
                    sex = first_sex
                forename = None
                if (
                    sex == "M"
                    and father is not None
                    and father.sex == "M"
                    and rng.random() < FATHER_SON_SAME_FORENAME
                ):
                    forename = father.forename
                child = self._person(
                    household,
                    sex=sex,
                    dob=born,
                    relation=relation,
                    surname=surname,
                    group=group,
                    forename=forename,
                )
                if t == 1:
                    # Twins get different forenames, often alliterative in real registers.
                    while child.forename == kids[-1].forename:
                        child.forename = self._forename(child.group, sex, born.year)
                child.mother, child.father = mother, father
                kids.append(child)
                first_sex = sex
            born += timedelta(days=rng.randrange(330, 6 * 365))
        return kids

    def _eldest_and_mother_age(self, max_eldest: int = 17) -> tuple[date, int]:
        rng = self.rng
        eldest_age = rng.randrange(0, max_eldest + 1)
        mother_age_at_birth = int(min(44, max(17, rng.gauss(29, 5.5))))
        return self._dob_for_age(eldest_age), eldest_age + mother_age_at_birth

    def _child_count(self) -> int:
        return int(
            _weighted(self.rng, (("1", 0.40), ("2", 0.38), ("3", 0.15), ("4", 0.05), ("5", 0.02)))
        )

    # --- households -------------------------------------------------------------------------------
    def household(self) -> Household:
        rng = self.rng
        kind = _weighted(rng, HOUSEHOLD_KINDS)
        district = self._district()
        group = _weighted(rng, tuple(zip(names.GROUPS, names.DISTRICTS[district][2], strict=True)))
        if group == "south_asian" and kind in ("single_adult", "shared") and rng.random() < 0.5:
            kind = "multigenerational"  # extended families are commoner in this tradition
        household = Household(index=len(self.households), kind=kind, group=group, district=district)
        self.households.append(household)
        getattr(self, f"_build_{kind}")(household)
        self._place(household)
        return household

    def _build_single_adult(self, h: Household) -> None:
        age = int(min(97, max(18, self.rng.gauss(58, 20))))
        self._adult(h, sex=self.rng.choice("FM"), age=age, relation="single")

    def _couple_pair(
        self,
        h: Household,
        woman_age: int,
        *,
        married_rate: float,
        relation: str = "partner",
        man_min_age: int = 18,
    ) -> tuple[Person, Person]:
        """A man and a woman; `man_min_age` keeps a father at least 18 years older than his
        eldest child."""
        rng = self.rng
        man_age = max(man_min_age, woman_age + int(rng.gauss(2.5, 3.5)))
        man = self._adult(
            h, sex="M", age=man_age, relation="father" if relation == "parent" else relation
        )
        woman = self._adult(
            h,
            sex="F",
            age=woman_age,
            relation="mother" if relation == "parent" else relation,
            group=self._partner_group(h),
        )
        if rng.random() < married_rate:
            # Younger couples more often married during the five years covered.
            in_period = rng.random() < (0.15 if woman_age < 40 else 0.04)
            married_on = _date_between(rng, PERIOD_START, REFERENCE_DATE) if in_period else None
            self._marry(woman, man.surname, married_on)
        return man, woman

    def _build_couple(self, h: Household) -> None:
        rng = self.rng
        age = int(min(95, max(20, rng.gauss(56, 17))))
        if rng.random() < 0.05:
            sex = rng.choice("FM")  # same-sex couple, each keeping their own surname
            self._adult(h, sex=sex, age=age, relation="partner")
            self._adult(h, sex=sex, age=max(18, age + int(rng.gauss(0, 4))), relation="partner")
            return
        self._couple_pair(h, age, married_rate=0.65)

    def _build_couple_children(self, h: Household) -> None:
        rng = self.rng
        eldest_dob, mother_age = self._eldest_and_mother_age()
        father, mother = self._couple_pair(
            h,
            mother_age,
            married_rate=0.6,
            relation="parent",
            man_min_age=REFERENCE_DATE.year - eldest_dob.year + 18,
        )
        x = rng.random()
        if mother.surname == gendered_surname(father.surname, "F") or x < 0.7:
            surname = father.surname
        elif x < 0.85:
            surname = mother.surname
        else:
            surname = f"{mother.surname}-{father.surname}"
        self._children(
            h,
            count=self._child_count(),
            eldest_dob=eldest_dob,
            mother=mother,
            father=father,
            surname=surname,
        )

    def _build_single_parent(self, h: Household) -> None:
        rng = self.rng
        eldest_dob, parent_age = self._eldest_and_mother_age()
        if rng.random() < 0.88:
            parent = self._adult(h, sex="F", age=parent_age, relation="mother")
            mother, father = parent, None
        else:
            parent = self._adult(h, sex="M", age=parent_age + 2, relation="father")
            mother, father = None, parent
        surname = parent.surname if rng.random() < 0.65 else self._surname(h.group)
        self._children(
            h,
            count=self._child_count(),
            eldest_dob=eldest_dob,
            mother=mother,
            father=father,
            surname=surname,
        )

    def _build_stepfamily(self, h: Household) -> None:
        rng = self.rng
        eldest_dob, mother_age = self._eldest_and_mother_age(max_eldest=16)
        mother = self._adult(h, sex="F", age=mother_age, relation="mother")
        stepfather = self._adult(
            h,
            sex="M",
            age=max(20, mother_age + int(rng.gauss(2, 5))),
            relation="stepfather",
            group=self._partner_group(h),
        )
        # Half the step-fathers moved in during the period covered, bringing older records with
        # their own address.
        if rng.random() < 0.5:
            joined = _date_between(rng, PERIOD_START, REFERENCE_DATE - timedelta(days=60))
            stepfather.joined_on = joined
        else:
            joined = PERIOD_START - timedelta(days=rng.randrange(1, 3650))
            # Not before he was an adult: his children with the mother are born after he joins.
            adult_on = date(
                stepfather.dob.year + 18, stepfather.dob.month, min(stepfather.dob.day, 28)
            )
            joined = max(joined, adult_on)
        exes_surname = self._surname(h.group)
        if rng.random() < 0.5:
            mother.surnames = [(_EARLIEST, gendered_surname(exes_surname, "F"))]
        older = self._children(
            h,
            count=self._child_count(),
            eldest_dob=eldest_dob,
            mother=mother,
            father=None,
            surname=exes_surname,
            relation="stepchild",
        )
        if rng.random() < 0.55:
            married_on = None
            if joined >= PERIOD_START or rng.random() < 0.3:
                married_on = _date_between(rng, max(joined, PERIOD_START), REFERENCE_DATE)
            self._marry(mother, stepfather.surname, married_on)
        if rng.random() < 0.35:
            # The children took the step-father's surname during the period (most of them, and
            # twins together); earlier records keep the old one.
            changed = _date_between(rng, max(joined, PERIOD_START), REFERENCE_DATE)
            follows: dict[date, bool] = {}
            for child in older:
                new = gendered_surname(stepfather.surname, child.sex)
                if follows.setdefault(child.dob, rng.random() < 0.85) and new != child.surname:
                    child.surnames = [(_EARLIEST, child.surname), (changed, new)]
        if rng.random() < 0.4:
            first = joined + timedelta(days=rng.randrange(280, 1200))
            if first <= REFERENCE_DATE and first > older[-1].dob + timedelta(days=330):
                self._children(
                    h,
                    count=rng.choice((1, 1, 2)),
                    eldest_dob=first,
                    mother=mother,
                    father=stepfather,
                    surname=stepfather.surname,
                    group=stepfather.group,
                )

    def _build_multigenerational(self, h: Household) -> None:
        rng = self.rng
        line_surname = self._surname(h.group)
        eldest_dob, parent_age = self._eldest_and_mother_age()
        # Measured from the father's age (the older parent) so both are at least 18 years younger.
        grand_age = min(95, parent_age + 2 + int(min(40, max(18, rng.gauss(28, 5)))))
        grandfather = None
        if rng.random() < 0.6:
            grandfather = self._adult(
                h, sex="M", age=grand_age + 2, relation="grandfather", surname=line_surname
            )
        grandmother = self._adult(
            h, sex="F", age=grand_age, relation="grandmother", surname=line_surname
        )
        son_line = rng.random() < (0.75 if h.group == "south_asian" else 0.5)
        if son_line:
            father = self._adult(
                h, sex="M", age=parent_age + 2, relation="father", surname=line_surname
            )
            father.mother, father.father = grandmother, grandfather
            mother = None
            if rng.random() < 0.8:
                mother = self._adult(h, sex="F", age=parent_age, relation="mother")
                self._marry(mother, father.surname, None)
            surname = father.surname
        else:
            mother = self._adult(
                h, sex="F", age=parent_age, relation="mother", surname=line_surname
            )
            mother.mother, mother.father = grandmother, grandfather
            father = None
            surname = mother.surname
            if rng.random() < 0.6:
                father = self._adult(h, sex="M", age=parent_age + 2, relation="father")
                self._marry(mother, father.surname, None)
                surname = father.surname
        self._children(
            h,
            count=self._child_count(),
            eldest_dob=eldest_dob,
            mother=mother,
            father=father,
            surname=surname,
        )

    def _build_adult_children(self, h: Household) -> None:
        rng = self.rng
        eldest_age = rng.randrange(18, 31)
        mother_age = eldest_age + int(min(44, max(17, rng.gauss(28, 5))))
        if rng.random() < 0.7:
            father, mother = self._couple_pair(
                h, mother_age, married_rate=0.85, relation="parent", man_min_age=eldest_age + 18
            )
            surname = father.surname
        else:
            mother = self._adult(h, sex="F", age=mother_age, relation="mother")
            father = None
            surname = mother.surname
        self._children(
            h,
            count=rng.choice((1, 1, 2, 3)),
            eldest_dob=self._dob_for_age(eldest_age),
            mother=mother,
            father=father,
            surname=surname,
        )
        # Only the adult sons and daughters born before the cut-off stay "adult children"; any
        # younger sibling generated above is simply a child of the household.

    def _build_shared(self, h: Household) -> None:
        rng = self.rng
        for _ in range(rng.choice((2, 2, 3, 4))):
            group = h.group if rng.random() < 0.6 else rng.choice(names.GROUPS)
            self._adult(
                h,
                sex=rng.choice("FM"),
                age=rng.randrange(19, 46),
                relation="sharer",
                group=group,
            )

    def _place(self, h: Household) -> None:
        """Address, moves, tenure, practice and schools for a household."""
        rng = self.rng
        deprivation = names.DISTRICTS[h.district][1]
        h.address = self._address(h.district)
        if rng.random() < 0.12:
            h.moved_on = _date_between(
                rng, PERIOD_START + timedelta(days=30), REFERENCE_DATE - timedelta(days=30)
            )
            from_district = h.district if rng.random() < 0.7 else self._district()
            previous = self._address(from_district)
            while previous.postcode == h.address.postcode:
                # Moving to a door in the same postcode unit would make the move invisible.
                previous = self._address(from_district)
            h.previous_address = previous
        h.gp_practice = rng.choice(self._practices[h.district])
        h.primary_school = rng.choice(self._primaries[h.district]).name
        secondaries = self._secondaries
        h.secondary_school = (
            secondaries[h.district][0].name
            if rng.random() < 0.85
            else rng.choice(secondaries[self._district()]).name
        )
        # Risk first: it drives tenure, homelessness and every agency's involvement.
        if rng.random() < _RISK_BY_KIND[h.kind] * deprivation:
            has_couple = any(p.relation in ("father", "stepfather", "partner") for p in h.members)
            factors = []
            for factor, rate in zip(RISK_FACTORS, _RISK_FACTOR_RATES, strict=True):
                if factor == "domestic_abuse" and not has_couple and h.kind != "single_parent":
                    continue
                if rng.random() < rate:
                    factors.append(factor)
            if not factors:
                factors.append("neglect" if h.children else "mental_health")
            h.risk_factors = tuple(factors)
        h.social_tenant = rng.random() < min(0.9, (0.55 if h.risk else 0.14) * deprivation)
        if h.moved_on is not None and rng.random() < (0.35 if h.risk else 0.04):
            # Became homeless and waited in temporary accommodation before this home.
            h.temporary_from = max(
                PERIOD_START, h.moved_on - timedelta(days=rng.randrange(30, 400))
            )
            h.temporary_address = self._temporary_address()
            h.social_tenant = rng.random() < 0.85
        if h.moved_on is not None:
            h.tenancy_start = h.moved_on
            h.previous_social_tenant = h.social_tenant and rng.random() < 0.5
        else:
            h.tenancy_start = REFERENCE_DATE - timedelta(days=rng.randrange(200, 20 * 365))
        history = h.history()
        for person in h.members:
            if person.joined_on is not None:
                # A partner who moved in: his own address until he joined, then the household's.
                own = self._address(self._district())
                later = [(when, a) for when, a in history if when > person.joined_on]
                current = person.joined_on
                at_join = history[0][1]
                for when, a in history:
                    if when <= current:
                        at_join = a
                person.addresses = [(_EARLIEST, own), (current, at_join), *later]
            else:
                person.addresses = history

    # --- identifiers ------------------------------------------------------------------------------
    def nhs_number(self) -> str:
        rng = self.rng
        while True:
            # England and Wales issue numbers from 400 000 000 and 600 000 000 - 799 999 999.
            first9 = rng.randrange(400_000_000, 800_000_000)
            if 500_000_000 <= first9 < 600_000_000 or first9 in self._nhs_used:
                continue
            check = nhs_number_check_digit(str(first9))
            if check is not None:
                self._nhs_used.add(first9)
                return f"{first9}{check}"

    def upn(self, person: Person, school: School) -> str:
        rng = self.rng
        year_group = person.age_on(_AGE_CUTOFF) - 4
        reception_year = SCHOOL_YEAR_START.year - year_group
        if rng.random() < 0.1:
            # Moved in from a neighbouring authority with the UPN its first school gave.
            la, establishment = rng.choice(OTHER_LAS), str(rng.randrange(2001, 4000))
        else:
            la, establishment = HOME_LA, school.number
        year2 = f"{reception_year % 100:02d}"
        key = (la, establishment, year2)
        serial = self._upn_serials.get(key, rng.randrange(0, 5)) + 1
        self._upn_serials[key] = serial
        body = f"{la}{establishment}{year2}{serial:03d}"
        return upn_check_letter(body) + body

    def pnc_id(self, person: Person) -> str:
        rng = self.rng
        # The year the record was created: usually before the period for adults, and no earlier
        # than the age of 12 (police events for suspects start then too).
        first_year = min(REFERENCE_DATE.year, max(person.dob.year + 12, 1995))
        year = rng.randrange(first_year, max(first_year, PERIOD_START.year) + 1)
        while True:
            serial = rng.randrange(1, 1_000_000)
            key = year * 10_000_000 + serial
            if key not in self._pnc_used:
                self._pnc_used.add(key)
                break
        serial7 = f"{serial:07d}"
        return f"{year}/{serial7}{pnc_check_letter(f'{year % 100:02d}', serial7)}"

    def finish(self, people: int) -> Population:
        rng = self.rng
        # The last household may overshoot; drop its youngest members to hit the size asked for.
        while len(self.people) > people:
            person = self.people.pop()
            person.household.members.remove(person)
        self.households = [h for h in self.households if h.members]
        # Opaque ids: a shuffled numbering, so that P000123 and P000124 are not siblings.
        width = max(6, len(str(len(self.people))))
        for person, number in zip(self.people, _shuffled(rng, len(self.people)), strict=True):
            person.person_id = f"P{number:0{width}d}"
        width = max(6, len(str(len(self.households))))
        for h, number in zip(self.households, _shuffled(rng, len(self.households)), strict=True):
            h.household_id = f"H{number:0{width}d}"
        for person in self.people:
            person.nhs_number = self.nhs_number()
            h = person.household
            year_group = person.age_on(_AGE_CUTOFF) - 4
            if 0 <= year_group <= 13:
                school_name = h.primary_school if year_group <= 6 else h.secondary_school
                if year_group <= 11:
                    person.school = school_name
                person.upn = self.upn(person, self.schools[h.primary_school])
            if self._is_offender(person):
                person.offender = True
                person.pnc_id = self.pnc_id(person)
        return Population(self.people, self.households, self.schools)

    def _is_offender(self, person: Person) -> bool:
        rng = self.rng
        age = person.age
        if age < 14:
            return False
        factors = person.household.risk_factors
        if person.relation in ("father", "stepfather", "partner") and "domestic_abuse" in factors:
            return person.sex == "M" and rng.random() < 0.85
        if age < 18:
            return bool(factors) and rng.random() < 0.18
        if "substance_misuse" in factors:
            return rng.random() < 0.3
        if factors:
            return rng.random() < 0.08
        return age < 65 and rng.random() < (0.035 if person.sex == "M" else 0.01)


_UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def _shuffled(rng: random.Random, n: int) -> list[int]:
    numbers = list(range(1, n + 1))
    rng.shuffle(numbers)
    return numbers


def population_build(*, people: int, rng: random.Random) -> Population:
    """Build `people` people in households, deterministic for the state of `rng`."""
    if people < 1:
        raise ValueError("people must be at least 1")
    builder = _Builder(rng)
    while len(builder.people) < people:
        builder.household()
    return builder.finish(people)
