#!/usr/bin/env python3
"""Blind benchmark set for ShareHub linkage, made by an outside tester.

A synthetic UK town ("Haverleigh", postcode area HV - fictional) of about 4,000
people living in households, and five agency extracts of different shapes with
noise of my own design.  Uses only Faker (en_GB) and the standard library.
Everything is seeded: running it twice gives byte-identical files.

    /work/main/.venv/bin/python /work/blind/make_blind.py [--out /work/blind/blind]

Writes <out>/{police,health,school,housing,social_care}.csv, ground_truth.csv,
manifest.json, and <out>/../NOISE_COUNTS.json (how often each noise fired).
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from faker import Faker

SEED = 20260514
TOWN = "Haverleigh"
START = dt.date(2019, 1, 1)     # first event date of any extract
END = dt.date(2025, 6, 30)      # extract date
TARGET_PEOPLE = 4000

# --------------------------------------------------------------------------------------
# Noise rates (also written out, with realised counts, in NOISE.md / NOISE_COUNTS.json).
# A rate is the probability per output row (per cell) unless said otherwise.
# --------------------------------------------------------------------------------------
RATES = {
    # population / life events (per household or per person)
    "hh_moves_once": 0.12,              # household moves to another town address in the window
    "stale_address_after_move": 0.10,   # record dated after the move still shows the old address
    "couple_marries_in_window": 0.07,   # woman's surname changes from maiden to partner's
    "maiden_name_after_marriage": 0.15, # record after marriage still carries the maiden name
    "couple_different_surnames": 0.20,  # unmarried couple, each keeps own surname
    "kids_double_barrelled": 0.25,      # of couples with different surnames: kids get A-B
    "adult_double_barrelled": 0.02,
    "family_has_twins": 0.05,           # of families with children
    "twins_same_initial": 0.30,         # twin forenames share the first letter
    "son_named_after_father": 0.07,     # of families with father and a son
    "grandfather_father_same_name": 0.30,  # in three-generation households
    "daughter_named_after_mother": 0.02,
    "has_middle_name": 0.55,
    # forename
    "forename_blank": 0.01,
    "forename_typo": 0.04,
    "forename_phonetic": 0.03,          # of rows whose forename has a known variant
    "nickname_police": 0.15,            # of rows whose forename has a known nickname
    "nickname_housing": 0.12,
    "nickname_school": 0.06,
    "nickname_social_care": 0.06,
    "nickname_health": 0.03,
    "middle_name_as_forename": 0.03,    # of rows of people with a middle name
    "forename_with_middle": 0.02,       # "Mary Ann" in the forename cell
    "name_ocr": 0.01,                   # one OCR confusion in forename or surname (each)
    "placeholder_newborn": 0.50,        # health / social care rows within 60 days of birth
    "placeholder_child_police": 0.04,   # police rows of children (child present)
    "placeholder_forename_any": 0.004,  # "Unknown" / "Not Known" / "NK"
    "placeholder_surname_any": 0.002,
    "name_swap": 0.015,                 # forename and surname exchanged
    "name_upper_police_housing": 0.30,
    "name_upper_other": 0.05,
    "name_lower": 0.02,
    "name_whitespace": 0.02,            # padding or doubled inner spaces
    # surname
    "surname_blank": 0.005,
    "surname_typo": 0.035,
    "surname_phonetic": 0.02,           # of rows whose surname has a known variant / rule
    "double_barrel_drop_half": 0.35,    # of rows of a double-barrelled surname
    "double_barrel_space": 0.10,        # "Smith Jones" instead of "Smith-Jones"
    # date of birth
    "dob_blank": 0.03,
    "dob_day_month_swap": 0.03,         # only when day <= 12 (a valid but wrong date)
    "dob_month_first_school": 0.03,     # school file (DD/MM/YYYY) row keyed MM/DD/YYYY
    "dob_impossible": 0.005,            # 30/02, 31/02, 31/04 ...
    "dob_digit_error": 0.02,            # one digit of day, month or year wrong
    "dob_year_off_by_one": 0.01,
    "dob_ocr": 0.015,                   # 0->O, 1->l or |, 5->S, 8->B, 2->Z, 6->G in the date text
    "dob_parent_copied": 0.02,          # child row (under 18) carries a parent's DOB
    "social_care_dob_other_format": 0.15,  # DD/MM/YYYY rows in a DD-Mon-YYYY file
    # NHS number (health only)
    "nhs_blank": 0.12,
    "nhs_blank_newborn": 0.40,
    "nhs_mistyped": 0.03,               # half one digit changed, half two adjacent digits swapped
    "nhs_spaced": 0.25,                 # "485 777 3456"
    "nhs_dashed": 0.05,
    # postcode
    "postcode_blank": 0.05,
    "postcode_no_space": 0.30,
    "postcode_lower": 0.10,
    "postcode_double_space": 0.05,
    "postcode_typo": 0.02,              # one character of the inward code wrong
    # address
    "address_blank": 0.03,
    "address_abbrev": 0.30,             # Road->Rd, Street->St, ...
    "address_upper": 0.15,
    "house_number_missing": 0.02,
    "house_number_typo": 0.01,
    "flat_omitted": 0.20,               # of rows at a flat
    "school_address_without_locality": 0.50,
    "school_address_without_postcode": 0.05,
    # sex (social care only)
    "sex_blank": 0.02,
    "sex_wrong": 0.01,
    "sex_unknown": 0.01,
}

NICKNAMES = {
    "Robert": ["Bob", "Rob", "Bobby", "Robbie"], "William": ["Bill", "Will", "Billy", "Liam"],
    "Katherine": ["Katie", "Kate", "Kathy", "Kat"], "Catherine": ["Cathy", "Kate", "Katie", "Cath"],
    "Kathryn": ["Kate", "Katie"], "Elizabeth": ["Liz", "Beth", "Lizzie", "Betty", "Libby"],
    "Margaret": ["Maggie", "Meg", "Peggy", "Maggie"], "James": ["Jim", "Jimmy", "Jamie"],
    "Michael": ["Mike", "Mick", "Mikey"], "Thomas": ["Tom", "Tommy"],
    "Richard": ["Rich", "Rick", "Richie", "Dick"], "Edward": ["Ed", "Ted", "Eddie"],
    "Alexander": ["Alex", "Sandy", "Xander"], "Christopher": ["Chris", "Kit"],
    "Daniel": ["Dan", "Danny"], "Joseph": ["Joe", "Joey"], "Jonathan": ["Jon", "Johnny"],
    "Nicholas": ["Nick", "Nicky"], "Anthony": ["Tony", "Ant"], "Samuel": ["Sam", "Sammy"],
    "Benjamin": ["Ben", "Benny"], "Matthew": ["Matt"], "Andrew": ["Andy", "Drew"],
    "Patricia": ["Pat", "Trish", "Patsy"], "Jennifer": ["Jenny", "Jen"],
    "Rebecca": ["Becky", "Becca"], "Victoria": ["Vicky", "Tori"],
    "Samantha": ["Sam", "Sammy"], "Jessica": ["Jess", "Jessie"],
    "Charlotte": ["Charlie", "Lottie"], "Deborah": ["Debbie", "Deb"], "Susan": ["Sue", "Susie"],
    "Alexandra": ["Alex", "Lexi", "Sasha"], "Henry": ["Harry", "Hal"], "Frederick": ["Fred", "Freddie"],
    "Charles": ["Charlie", "Chas", "Chuck"], "Joshua": ["Josh"], "Oliver": ["Ollie"],
    "Stephen": ["Steve"], "Steven": ["Steve"], "Gregory": ["Greg"], "Timothy": ["Tim"],
    "Peter": ["Pete"], "David": ["Dave", "Davey"], "Kenneth": ["Ken", "Kenny"],
    "Leonard": ["Len", "Lenny"], "Ronald": ["Ron", "Ronnie"], "Donald": ["Don"],
    "Gerald": ["Gerry"], "Terence": ["Terry", "Tel"], "Abigail": ["Abbie", "Abby"],
    "Eleanor": ["Ellie", "Nell"], "Isabella": ["Bella", "Izzy"], "Amelia": ["Millie", "Amy"],
    "Josephine": ["Jo", "Josie"], "Natalie": ["Nat"], "Christine": ["Chris", "Chrissie"],
    "Jacqueline": ["Jackie"], "Philip": ["Phil"], "Phillip": ["Phil"], "Lawrence": ["Larry", "Laurie"],
    "Raymond": ["Ray"], "Francis": ["Frank"], "Kimberley": ["Kim"], "Gillian": ["Gill", "Jill"],
    "Dorothy": ["Dot", "Dottie"], "Joanne": ["Jo"], "Joanna": ["Jo"], "Nicola": ["Nicky", "Nic"],
    "Stephanie": ["Steph"], "Bradley": ["Brad"], "Nathan": ["Nate"], "Callum": ["Cal"],
    "Zachary": ["Zac", "Zach"], "Harriet": ["Hattie"], "Sophia": ["Sophie"], "Penelope": ["Penny"],
    "Theodore": ["Theo", "Ted"], "Mohammed": ["Mo"], "Gareth": ["Gaz"], "Gary": ["Gaz"],
    "Douglas": ["Doug", "Dougie"], "Geoffrey": ["Geoff"], "Malcolm": ["Mal"], "Maurice": ["Mo"],
    "Albert": ["Bert", "Albie"], "Barbara": ["Babs"], "Pamela": ["Pam"], "Sandra": ["Sandy"],
    "Valerie": ["Val"], "Beverley": ["Bev"], "Caroline": ["Caz", "Carrie"], "Danielle": ["Dani"],
    "Georgina": ["Georgie"], "Hannah": ["Hanna"], "Lydia": ["Liddy"], "Frances": ["Fran"],
}

FORENAME_VARIANTS = [
    ["Stephen", "Steven"], ["Catherine", "Katherine", "Kathryn", "Cathryn"], ["Jon", "John"],
    ["Sean", "Shaun", "Shawn"], ["Zoe", "Zoey", "Zoë"], ["Lee", "Leigh"], ["Philip", "Phillip"],
    ["Geoffrey", "Jeffrey"], ["Aimee", "Amy"], ["Megan", "Meghan", "Meagan"],
    ["Isobel", "Isabel", "Isabelle"], ["Rachel", "Rachael"], ["Michelle", "Michele"],
    ["Claire", "Clare"], ["Louis", "Lewis"], ["Mohammed", "Muhammad", "Mohammad", "Mohamed"],
    ["Sara", "Sarah"], ["Ann", "Anne"], ["Carl", "Karl"], ["Kirsty", "Kirstie"],
    ["Hayley", "Haley", "Hailey"], ["Aidan", "Aiden", "Ayden"], ["Jayden", "Jaden"],
    ["Elliot", "Elliott"], ["Marc", "Mark"], ["Tracey", "Tracy"], ["Lynn", "Lynne"],
    ["Mathew", "Matthew"], ["Antony", "Anthony"], ["Garry", "Gary"], ["Graham", "Graeme"],
    ["Ian", "Iain"], ["Glen", "Glenn"], ["Damian", "Damien"], ["Stuart", "Stewart"],
    ["Jodie", "Jody"], ["Leanne", "Lianne"], ["Ashleigh", "Ashley"], ["Jemma", "Gemma"],
    ["Kayleigh", "Kayley", "Kaylee"], ["Hollie", "Holly"], ["Abbie", "Abby"], ["Katy", "Katie"],
    ["Conor", "Connor"], ["Alan", "Allan", "Allen"], ["Brian", "Bryan"], ["Nicola", "Nichola"],
    ["Rhys", "Reece", "Reese"], ["Frances", "Francis"], ["Dennis", "Denis"],
]

SURNAME_VARIANTS = [
    ["Smith", "Smyth"], ["Thompson", "Thomson"], ["Phillips", "Philips"], ["Reid", "Reed", "Read"],
    ["Gray", "Grey"], ["Clarke", "Clark"], ["Matthews", "Mathews"], ["Davies", "Davis"],
    ["Stephenson", "Stevenson"], ["Macdonald", "McDonald", "MacDonald"], ["Johnson", "Jonson"],
    ["Brown", "Browne"], ["Neil", "Neal", "Neill"], ["Carr", "Kerr"], ["Shepherd", "Sheppard", "Shepard"],
    ["Harris", "Harriss"], ["Lloyd", "Loyd"], ["Hughes", "Hewes"], ["Rogers", "Rodgers"],
    ["Kelly", "Kelley"], ["Mohammed", "Mohammad", "Muhammad"], ["Khan", "Kahn"],
    ["Atkinson", "Atkison"], ["Wood", "Woods"], ["Burgess", "Burges"], ["Marshall", "Marshal"],
    ["Walsh", "Welsh"], ["Fletcher", "Flecher"], ["Baker", "Backer"], ["Hodgson", "Hodgeson"],
]
GENERIC_PHONETIC = [("ph", "f"), ("ck", "k"), ("ll", "l"), ("tt", "t"), ("ss", "s"), ("ey", "y"),
                    ("ie", "y"), ("ou", "ow"), ("ae", "ea"), ("son", "sen"), ("ai", "ay"), ("c", "k")]

STREET_STEMS = ["Church", "Mill", "Station", "High", "Park", "Victoria", "Queen's", "King's", "Oak",
                "Elm", "Chapel", "School", "Manor", "Green", "Bridge", "Orchard", "Meadow", "Willow",
                "Ash", "Beech", "Cedar", "Market", "North", "South", "West", "East", "New", "Albert",
                "Castle", "Abbey", "Priory", "Windmill", "Brook", "Water", "Hill", "Spring", "Well",
                "Forge", "Quarry", "Farm", "Holly", "Rowan", "Poplar", "Chestnut", "Sycamore", "Lime"]
STREET_SUFFIXES = ["Road", "Street", "Lane", "Avenue", "Close", "Drive", "Crescent", "Way", "Grove",
                   "Gardens", "Terrace", "Place", "Court", "Walk", "Rise", "View", "Mews", "Row"]
ABBREV = {"Road": "Rd", "Street": "St", "Lane": "Ln", "Avenue": "Ave", "Close": "Cl", "Drive": "Dr",
          "Crescent": "Cres", "Grove": "Gr", "Gardens": "Gdns", "Terrace": "Terr", "Place": "Pl",
          "Court": "Ct", "Walk": "Wlk"}
LOCALITIES = ["Eastfield", "Westbrook", "Old Town", "Northgate", "Southmead", "Hollins Park",
              "Brackley Vale", "Riverside"]
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
SCHOOLS = ["Haverleigh Primary", "St Mary's CE Primary", "Eastfield Infant and Junior",
           "Westbrook Academy", "Northgate High", "Riverside Community School", "Hollins Park Primary",
           "Old Town Junior"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
OCR_NAME = [("o", "0"), ("O", "0"), ("l", "1"), ("I", "l"), ("l", "|"), ("S", "5"), ("s", "5"),
            ("B", "8"), ("m", "rn"), ("rn", "m"), ("cl", "d"), ("e", "c"), ("i", "1"), ("Z", "2")]
OCR_DIGIT = {"0": ["O", "o"], "1": ["l", "|", "I"], "5": ["S"], "8": ["B"], "2": ["Z"], "6": ["G", "b"]}
KEYBOARD = {c: n for c, n in zip("qwertyuiopasdfghjklzxcvbnm",
                                 ["wa", "qes", "wrd", "etf", "ryg", "tuh", "yij", "uok", "ipl", "ol",
                                  "qsz", "adwx", "sfec", "dgrv", "fhtb", "gjyn", "hkum", "jlio", "kop",
                                  "asx", "zcsd", "xvdf", "cbfg", "vngh", "bmhj", "njk"])}

counts: Counter = Counter()


def hit(rng: random.Random, key: str, rate: float | None = None) -> bool:
    r = RATES[key] if rate is None else rate
    if rng.random() < r:
        counts[key] += 1
        return True
    return False


# --------------------------------------------------------------------------------------
# Population
# --------------------------------------------------------------------------------------
@dataclass
class Street:
    name: str
    suffix: str
    locality: str
    district: int
    length: int
    units: list = field(default_factory=list)    # postcode per block of ~14 houses


@dataclass
class Dwelling:
    street: Street
    number: int
    flat: int | None

    @property
    def postcode(self) -> str:
        return self.street.units[(self.number - 1) // 14]

    def key(self):
        return (self.street.name, self.number, self.flat)


@dataclass
class Person:
    pid: str
    hid: str
    sex: str
    forename: str
    middle: str | None
    surname: str
    dob: dt.date
    nhs: str
    maiden: str | None = None
    marriage_date: dt.date | None = None
    mother: "Person | None" = None
    father: "Person | None" = None

    def age_on(self, d: dt.date) -> float:
        return (d - self.dob).days / 365.25

    def surname_on(self, d: dt.date, rng: random.Random) -> str:
        if self.marriage_date and self.maiden:
            if d < self.marriage_date:
                return self.maiden
            if hit(rng, "maiden_name_after_marriage"):
                return self.maiden
        return self.surname


@dataclass
class Household:
    hid: str
    kind: str
    members: list
    home: Dwelling
    old_home: Dwelling | None = None
    move_date: dt.date | None = None

    def address_on(self, d: dt.date, rng: random.Random) -> Dwelling:
        if self.old_home is None or d < self.move_date:
            return self.old_home if (self.old_home and d < self.move_date) else self.home
        if hit(rng, "stale_address_after_move"):
            return self.old_home
        return self.home

    def adults(self):
        return [p for p in self.members if p.age_on(END) >= 18]

    def children(self):
        return [p for p in self.members if p.age_on(END) < 18]


class Town:
    def __init__(self, rng: random.Random, fake: Faker):
        self.rng, self.fake = rng, fake
        self.streets = self._streets()
        self.free = [Dwelling(s, n, f) for s in self.streets for n in range(1, s.length + 1)
                     for f in ([None] if rng.random() > 0.12 else list(range(1, rng.randint(3, 7))))]
        rng.shuffle(self.free)
        self.nhs_used: set = set()
        self.households: list[Household] = []
        self.people: list[Person] = []

    def _streets(self):
        rng, seen, streets = self.rng, set(), []
        postcodes = set()
        while len(streets) < 140:
            stem = rng.choice(STREET_STEMS) if rng.random() < 0.5 else self.fake.last_name()
            suffix = rng.choice(STREET_SUFFIXES)
            name = f"{stem} {suffix}"
            if name in seen:
                continue
            seen.add(name)
            district = rng.randint(1, 8)
            st = Street(name, suffix, LOCALITIES[district - 1], district, rng.randint(12, 110))
            for _ in range((st.length - 1) // 14 + 1):
                while True:
                    pc = f"HV{district} {rng.randint(1, 9)}{rng.choice(INWARD_LETTERS)}{rng.choice(INWARD_LETTERS)}"
                    if pc not in postcodes:
                        postcodes.add(pc)
                        break
                st.units.append(pc)
            streets.append(st)
        return streets

    def dwelling(self) -> Dwelling:
        return self.free.pop()

    def nhs_number(self) -> str:
        while True:
            digits = [self.rng.choice([4, 6, 7])] + [self.rng.randint(0, 9) for _ in range(8)]
            total = sum(d * (10 - i) for i, d in enumerate(digits))
            check = 11 - total % 11
            if check == 11:
                check = 0
            if check == 10:
                continue
            s = "".join(map(str, digits)) + str(check)
            if s not in self.nhs_used:
                self.nhs_used.add(s)
                return s

    def forename(self, sex: str) -> str:
        rng, fake = self.rng, self.fake
        if rng.random() < 0.30:   # names with nicknames are common in real extracts
            pool = [n for n in NICKNAMES if (n in FEMALE_FORMAL) == (sex == "F")]
            return rng.choice(pool)
        return fake.first_name_male() if sex == "M" else fake.first_name_female()

    def middle(self, sex: str) -> str | None:
        return self.forename(sex) if self.rng.random() < RATES["has_middle_name"] else None

    def birth(self, start: dt.date, end: dt.date) -> dt.date:
        span = (end - start).days
        return start + dt.timedelta(days=self.rng.randint(0, max(span, 0)))

    def person(self, hid, sex, dob, surname, forename=None) -> Person:
        pid = f"P{len(self.people) + 1:05d}"
        fn = forename or self.forename(sex)
        mid = self.middle(sex)
        while mid == fn:
            mid = self.middle(sex)
        p = Person(pid, hid, sex, fn, mid, surname, dob, self.nhs_number())
        self.people.append(p)
        return p

    def surname(self) -> str:
        s = self.fake.last_name()
        if self.rng.random() < RATES["adult_double_barrelled"]:
            s = f"{s}-{self.fake.last_name()}"
        return s

    def build(self):
        rng = self.rng
        kinds = [("single", 28), ("couple", 22), ("couple_kids", 30), ("lone_parent", 12),
                 ("three_gen", 4), ("share", 4)]
        while len(self.people) < TARGET_PEOPLE:
            kind = rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
            hid = f"H{len(self.households) + 1:04d}"
            members = getattr(self, "_" + kind)(hid)
            hh = Household(hid, kind, members, self.dwelling())
            if rng.random() < RATES["hh_moves_once"]:
                counts["hh_moves_once"] += 1
                hh.old_home, hh.home = hh.home, self.dwelling()
                hh.move_date = self.birth(dt.date(2020, 1, 1), dt.date(2024, 12, 31))
            self.households.append(hh)

    # household kinds ---------------------------------------------------------------
    def _adult_dob(self, lo=19, hi=90):
        return self.birth(END.replace(year=END.year - hi), END.replace(year=END.year - lo))

    def _single(self, hid):
        sex = self.rng.choice("MF")
        return [self.person(hid, sex, self._adult_dob(), self.surname())]

    def _couple_pair(self, hid, lo=20, hi=85):
        rng = self.rng
        him_dob = self._adult_dob(lo, hi)
        her_dob = him_dob + dt.timedelta(days=rng.randint(-8 * 365, 3 * 365))
        if her_dob > END.replace(year=END.year - 18):
            her_dob = END.replace(year=END.year - 19)
        sexes = ("M", "F") if rng.random() > 0.05 else rng.choice([("M", "M"), ("F", "F")])
        his_surname = self.surname()
        a = self.person(hid, sexes[0], him_dob, his_surname)
        if rng.random() < RATES["couple_different_surnames"]:
            counts["couple_different_surnames"] += 1
            b = self.person(hid, sexes[1], her_dob, self.surname())
        else:
            b = self.person(hid, sexes[1], her_dob, his_surname)
            if sexes[1] == "F" and rng.random() < RATES["couple_marries_in_window"] / 0.8:
                counts["couple_marries_in_window"] += 1
                b.maiden = self.surname()
                b.marriage_date = self.birth(dt.date(2019, 6, 1), dt.date(2024, 12, 31))
        return a, b

    def _couple(self, hid):
        return list(self._couple_pair(hid))

    def _kids(self, hid, mother, father, surname):
        rng = self.rng
        n = rng.choices([1, 2, 3, 4], [35, 40, 18, 7])[0]
        base = mother if mother else father
        kids = []
        lo = base.dob.replace(year=base.dob.year + 18) if not (base.dob.month == 2 and base.dob.day == 29) \
            else dt.date(base.dob.year + 18, 3, 1)
        lo = max(lo, END.replace(year=END.year - 17))
        hi = min(END - dt.timedelta(days=20), base.dob + dt.timedelta(days=int(44 * 365.25)))
        if lo > hi:
            return kids
        dobs = sorted(self.birth(lo, hi) for _ in range(n))
        for dob in dobs:
            sex = rng.choice("MF")
            forename = None
            if sex == "M" and father and father.sex == "M" and not any(k.sex == "M" for k in kids) \
                    and rng.random() < RATES["son_named_after_father"]:
                counts["son_named_after_father"] += 1
                forename = father.forename
            elif sex == "F" and mother and mother.sex == "F" and not any(k.sex == "F" for k in kids) \
                    and rng.random() < RATES["daughter_named_after_mother"]:
                counts["daughter_named_after_mother"] += 1
                forename = mother.forename
            k = self.person(hid, sex, dob, surname, forename)
            k.mother, k.father = mother, father
            kids.append(k)
        if kids and rng.random() < RATES["family_has_twins"]:
            counts["family_has_twins"] += 1
            t = kids[-1]
            sex = rng.choice("MF")
            fn = self.forename(sex)
            if rng.random() < RATES["twins_same_initial"]:
                same = [n for n in (list(NICKNAMES) + list(FEMALE_FORMAL) + list(_FAKER_NAMES(sex)))
                        if n[0] == t.forename[0] and n != t.forename]
                if same:
                    fn = rng.choice(sorted(set(same)))
            while fn == t.forename:
                fn = self.forename(sex)
            twin = self.person(hid, sex, t.dob, surname, fn)
            twin.mother, twin.father = mother, father
            kids.append(twin)
        return kids

    def _couple_kids(self, hid):
        rng = self.rng
        a, b = self._couple_pair(hid, 22, 58)
        mother = b if b.sex == "F" else (a if a.sex == "F" else None)
        father = a if a.sex == "M" else None
        surname = a.surname
        if a.surname != b.surname and not b.maiden:
            if rng.random() < RATES["kids_double_barrelled"]:
                counts["kids_double_barrelled"] += 1
                surname = f"{b.surname}-{a.surname}"
            elif rng.random() < 0.4:
                surname = b.surname
        return [a, b] + self._kids(hid, mother, father, surname)

    def _lone_parent(self, hid):
        rng = self.rng
        sex = "F" if rng.random() < 0.85 else "M"
        p = self.person(hid, sex, self._adult_dob(19, 55), self.surname())
        surname = p.surname if rng.random() < 0.7 else self.surname()
        return [p] + self._kids(hid, p if sex == "F" else None, p if sex == "M" else None, surname)

    def _three_gen(self, hid):
        rng = self.rng
        gf, gm = self._couple_pair(hid, 62, 85)
        son_name = gf.forename if rng.random() < RATES["grandfather_father_same_name"] else None
        if son_name:
            counts["grandfather_father_same_name"] += 1
        lo = max(gm.dob.replace(year=gm.dob.year + 20) if gm.dob.month != 2 or gm.dob.day != 29
                 else dt.date(gm.dob.year + 20, 3, 1), END.replace(year=END.year - 50))
        hi = min(gm.dob + dt.timedelta(days=40 * 365), END.replace(year=END.year - 22))
        if lo > hi:
            return [gf, gm]
        dad = self.person(hid, "M", self.birth(lo, hi), gf.surname, son_name)
        dad.mother, dad.father = gm, gf
        members = [gf, gm, dad]
        if rng.random() < 0.6:
            mum_dob = dad.dob + dt.timedelta(days=rng.randint(-5 * 365, 5 * 365))
            mum = self.person(hid, "F", min(mum_dob, END.replace(year=END.year - 20)), dad.surname)
            members.append(mum)
        else:
            mum = None
        members += self._kids(hid, mum, dad, dad.surname)
        return members

    def _share(self, hid):
        return [self.person(hid, self.rng.choice("MF"), self._adult_dob(19, 40), self.surname())
                for _ in range(self.rng.randint(2, 3))]


FEMALE_FORMAL = {"Katherine", "Catherine", "Kathryn", "Elizabeth", "Margaret", "Patricia", "Jennifer",
                 "Rebecca", "Victoria", "Samantha", "Jessica", "Charlotte", "Deborah", "Susan",
                 "Alexandra", "Abigail", "Eleanor", "Isabella", "Amelia", "Josephine", "Natalie",
                 "Christine", "Jacqueline", "Kimberley", "Gillian", "Dorothy", "Joanne", "Joanna",
                 "Nicola", "Stephanie", "Harriet", "Sophia", "Penelope", "Barbara", "Pamela", "Sandra",
                 "Valerie", "Beverley", "Caroline", "Danielle", "Georgina", "Hannah", "Lydia", "Frances"}


def _FAKER_NAMES(sex):
    from faker.providers.person.en_GB import Provider as P
    return P.first_names_male if sex == "M" else P.first_names_female


# --------------------------------------------------------------------------------------
# Noise on fields
# --------------------------------------------------------------------------------------
class Noise:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.fvar = {n: g for g in FORENAME_VARIANTS for n in g}
        self.svar = {n: g for g in SURNAME_VARIANTS for n in g}

    def typo(self, s: str) -> str:
        rng = self.rng
        if len(s) < 2:
            return s
        i = rng.randint(1, len(s) - 1) if rng.random() > 0.15 else 0
        op = rng.choice(["sub", "del", "ins", "swap"])
        c = s[i].lower()
        if op == "sub":
            rep = rng.choice(KEYBOARD.get(c, "aeiou"))
            rep = rep.upper() if s[i].isupper() else rep
            return s[:i] + rep + s[i + 1:]
        if op == "del":
            return s[:i] + s[i + 1:]
        if op == "ins":
            return s[:i] + rng.choice(KEYBOARD.get(c, "aeiou")) + s[i:]
        if i == len(s) - 1:
            i -= 1
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]

    def ocr(self, s: str) -> str:
        opts = [(a, b) for a, b in OCR_NAME if a in s]
        if not opts:
            return s
        a, b = self.rng.choice(opts)
        idx = [i for i in range(len(s)) if s.startswith(a, i)]
        i = self.rng.choice(idx)
        return s[:i] + b + s[i + len(a):]

    def phonetic_surname(self, s: str) -> str | None:
        for part_sep in ["-"]:
            if part_sep in s:
                a, b = s.split(part_sep, 1)
                v = self.phonetic_surname(a)
                return f"{v}-{b}" if v else None
        if s in self.svar:
            return self.rng.choice([x for x in self.svar[s] if x != s])
        rules = [(a, b) for a, b in GENERIC_PHONETIC if a in s[1:].lower()]
        if not rules:
            return None
        a, b = self.rng.choice(rules)
        i = s.lower().find(a, 1)
        return s[:i] + b + s[i + len(a):]

    def forename(self, p: Person, agency: str, when: dt.date, child_police=False) -> str:
        rng = self.rng
        fn = p.forename
        if hit(rng, "forename_blank"):
            return ""
        if hit(rng, "placeholder_forename_any"):
            return rng.choice(["Unknown", "Not Known", "NK", "UNKNOWN"])
        if child_police and hit(rng, "placeholder_child_police"):
            return rng.choice(["Unknown", "Child", "Not Known", "Baby"])
        if agency in ("health", "social_care") and 0 <= (when - p.dob).days <= 60 \
                and hit(rng, "placeholder_newborn"):
            return rng.choice(["Baby", "Baby", "Baby Boy" if p.sex == "M" else "Baby Girl",
                               "Unborn" if agency == "social_care" else "Infant"])
        if p.middle and hit(rng, "middle_name_as_forename"):
            fn = p.middle
        elif p.middle and hit(rng, "forename_with_middle"):
            fn = f"{fn} {p.middle}"
        elif fn in NICKNAMES and hit(rng, "nickname_" + agency):
            fn = rng.choice(NICKNAMES[fn])
        elif fn in self.fvar and hit(rng, "forename_phonetic"):
            fn = rng.choice([x for x in self.fvar[fn] if x != fn])
        if hit(rng, "forename_typo"):
            fn = self.typo(fn)
        if hit(rng, "name_ocr"):
            fn = self.ocr(fn)
        return fn

    def surname(self, p: Person, when: dt.date) -> str:
        rng = self.rng
        sn = p.surname_on(when, rng)
        if hit(rng, "surname_blank"):
            return ""
        if hit(rng, "placeholder_surname_any"):
            return rng.choice(["Unknown", "Not Known", "NK"])
        if "-" in sn:
            if hit(rng, "double_barrel_drop_half"):
                sn = rng.choice(sn.split("-", 1))
            elif hit(rng, "double_barrel_space"):
                sn = sn.replace("-", " ")
        if rng.random() < RATES["surname_phonetic"]:
            v = self.phonetic_surname(sn)
            if v:
                counts["surname_phonetic"] += 1
                sn = v
        if hit(rng, "surname_typo"):
            sn = self.typo(sn)
        if hit(rng, "name_ocr"):
            sn = self.ocr(sn)
        return sn

    def names(self, p, agency, when, child_police=False):
        rng = self.rng
        fn = self.forename(p, agency, when, child_police)
        sn = self.surname(p, when)
        if fn and sn and hit(rng, "name_swap"):
            fn, sn = sn, fn
        out = []
        upper_key = "name_upper_police_housing" if agency in ("police", "housing") else "name_upper_other"
        upper = hit(rng, upper_key)
        lower = not upper and hit(rng, "name_lower")
        for s in (fn, sn):
            if upper:
                s = s.upper()
            elif lower:
                s = s.lower()
            out.append(s)
        if hit(rng, "name_whitespace"):
            i = rng.randint(0, 1)
            out[i] = rng.choice([" " + out[i], out[i] + "  ", out[i].replace(" ", "  ")])
        return out

    def dob(self, p: Person, fmt: str, when: dt.date, agency: str) -> str:
        rng = self.rng
        if hit(rng, "dob_blank"):
            return ""
        d = p.dob
        if p.age_on(when) < 18 and (p.mother or p.father) and hit(rng, "dob_parent_copied"):
            d = rng.choice([x for x in (p.mother, p.father) if x]).dob
        y, m, day = d.year, d.month, d.day
        month_first = False
        if hit(rng, "dob_year_off_by_one"):
            y += rng.choice([-1, 1])
        if day <= 12 and day != m and hit(rng, "dob_day_month_swap"):
            day, m = m, day
        elif hit(rng, "dob_impossible"):
            m, day = rng.choice([(2, 30), (2, 31), (4, 31), (6, 31), (9, 31), (11, 31), (2, 29 if y % 4 else 30)])
        digit_err = hit(rng, "dob_digit_error")
        if fmt == "dmy" and agency == "school" and hit(rng, "dob_month_first_school"):
            month_first = True
        if digit_err:
            which = rng.choice(["d", "m", "y"])
            if which == "d":
                ds = f"{day:02d}"
                i = rng.randint(0, 1)
                day = int(ds[:i] + str(rng.randint(0, 9)) + ds[i + 1:])
            elif which == "m":
                ms = f"{m:02d}"
                m = int(ms[0] + str(rng.randint(0, 9))) if ms[0] == "0" else int("1" + str(rng.randint(0, 9)))
            else:
                ys = str(y)
                i = rng.randint(2, 3)
                y = int(ys[:i] + str(rng.randint(0, 9)) + ys[i + 1:])
        if fmt == "iso":
            s = f"{y:04d}-{m:02d}-{day:02d}"
        elif fmt == "dmon":
            if 1 <= m <= 12:
                s = f"{day:02d}-{MONTHS[m - 1]}-{y:04d}"
            else:
                s = f"{day:02d}/{m:02d}/{y:04d}"
        else:
            s = f"{m:02d}/{day:02d}/{y:04d}" if month_first else f"{day:02d}/{m:02d}/{y:04d}"
        if hit(rng, "dob_ocr"):
            idx = [i for i, c in enumerate(s) if c in OCR_DIGIT]
            if idx:
                i = rng.choice(idx)
                s = s[:i] + rng.choice(OCR_DIGIT[s[i]]) + s[i + 1:]
        return s

    def nhs(self, p: Person, newborn: bool) -> str:
        rng = self.rng
        if hit(rng, "nhs_blank_newborn" if newborn else "nhs_blank"):
            return ""
        s = p.nhs
        if hit(rng, "nhs_mistyped"):
            i = rng.randint(0, 8)
            if rng.random() < 0.5:
                s = s[:i] + str((int(s[i]) + rng.randint(1, 9)) % 10) + s[i + 1:]
            else:
                s = s[:i] + s[i + 1] + s[i] + s[i + 2:]
        if hit(rng, "nhs_spaced"):
            s = f"{s[:3]} {s[3:6]} {s[6:]}"
        elif hit(rng, "nhs_dashed"):
            s = f"{s[:3]}-{s[3:6]}-{s[6:]}"
        return s

    def postcode(self, d: Dwelling, blank_ok=True) -> str:
        rng = self.rng
        if blank_ok and hit(rng, "postcode_blank"):
            return ""
        out, inw = d.postcode.split(" ")
        if hit(rng, "postcode_typo"):
            i = rng.randint(0, 2)
            if i == 0:
                inw = str((int(inw[0]) % 9) + 1) + inw[1:]
            else:
                inw = inw[:i] + rng.choice([c for c in INWARD_LETTERS if c != inw[i]]) + inw[i + 1:]
        if hit(rng, "postcode_no_space"):
            s = out + inw
        elif hit(rng, "postcode_double_space"):
            s = out + "  " + inw
        else:
            s = out + " " + inw
        if hit(rng, "postcode_lower"):
            s = s.lower()
        return s

    def line1(self, d: Dwelling) -> str:
        rng = self.rng
        if hit(rng, "address_blank"):
            return ""
        street = d.street.name
        if hit(rng, "address_abbrev") and d.street.suffix in ABBREV:
            street = street[: -len(d.street.suffix)] + ABBREV[d.street.suffix]
        num = str(d.number)
        if hit(rng, "house_number_typo"):
            num = str(d.number + rng.choice([-1, 1, 10, -10])) if d.number > 10 else str(d.number + 1)
        if hit(rng, "house_number_missing"):
            s = street
        else:
            s = f"{num} {street}"
        if d.flat is not None and not hit(rng, "flat_omitted"):
            s = rng.choice([f"Flat {d.flat}, {s}", f"Flat {d.flat} {s}", f"{d.flat}/{s}",
                            f"{s}, Flat {d.flat}"])
        if hit(rng, "address_upper"):
            s = s.upper()
        return s

    def sex(self, p: Person) -> str:
        rng = self.rng
        if hit(rng, "sex_blank"):
            return ""
        if hit(rng, "sex_unknown"):
            return rng.choice(["U", "Unknown", "Not stated"])
        s = p.sex
        if hit(rng, "sex_wrong"):
            s = "F" if s == "M" else "M"
        r = rng.random()
        if r < 0.6:
            return s
        if r < 0.9:
            return {"M": "Male", "F": "Female"}[s]
        return s.lower()


# --------------------------------------------------------------------------------------
# Extracts
# --------------------------------------------------------------------------------------
def rand_date(rng, lo: dt.date, hi: dt.date) -> dt.date:
    if hi < lo:
        return lo
    return lo + dt.timedelta(days=rng.randint(0, (hi - lo).days))


def geometric(rng, p, cap):
    n = 1
    while rng.random() > p and n < cap:
        n += 1
    return n


def make_extracts(town: Town, rng: random.Random):
    nz = Noise(rng)
    hh_of = {p.pid: hh for hh in town.households for p in hh.members}
    rows = defaultdict(list)   # agency -> list of (sort key, dict row, person)

    # ---- health: A&E / health visiting attendances ----------------------------------
    ids = rng.sample(range(1000000, 9999999), 20000)
    k = 0
    for p in town.people:
        age = p.age_on(END)
        prob = 0.70 if age < 5 else 0.60 if age > 70 else 0.35
        events = []
        if p.dob > START and rng.random() < 0.6:
            events.append(p.dob + dt.timedelta(days=rng.randint(0, 10)))
        if rng.random() < prob:
            for _ in range(geometric(rng, 0.55, 8)):
                events.append(rand_date(rng, max(START, p.dob), END))
        for when in events:
            hh = hh_of[p.pid]
            fn, sn = nz.names(p, "health", when)
            row = {"attendance_id": f"ATT{ids[k]}", "nhs_number": nz.nhs(p, (when - p.dob).days <= 60),
                   "forename": fn, "surname": sn, "date_of_birth": nz.dob(p, "iso", when, "health"),
                   "postcode": nz.postcode(hh.address_on(when, rng)),
                   "gp_practice": f"Y0{rng.randint(1000, 1099)}", "attendance_date": when.isoformat()}
            k += 1
            rows["health"].append((when, row, p))

    # ---- school: one row per pupil per academic year --------------------------------
    ids = rng.sample(range(100000, 999999), 20000)
    k = 0
    enrolled = {p.pid: rng.random() < 0.88 for p in town.people}
    school_of = {p.pid: rng.choice(SCHOOLS) for p in town.people}
    for p in town.people:
        if not enrolled[p.pid]:
            continue
        for year in (2022, 2023, 2024):
            sept1 = dt.date(year, 9, 1)
            age = p.age_on(sept1)
            if not (4 <= age < 16) or rng.random() > 0.93:
                continue
            n = 2 if rng.random() < 0.03 else 1
            for _ in range(n):
                when = sept1 + dt.timedelta(days=rng.randint(0, 200))
                if when > END:
                    when = END
                hh = hh_of[p.pid]
                d = hh.address_on(when, rng)
                fn, sn = nz.names(p, "school", when)
                line = nz.line1(d)
                parts = [line] if line else []
                if line and not hit(rng, "school_address_without_locality"):
                    parts.append(d.street.locality)
                if line:
                    parts.append(TOWN.upper() if line.isupper() else TOWN)
                pc = nz.postcode(d) if not hit(rng, "school_address_without_postcode") else ""
                addr = ", ".join(parts)
                if pc:
                    addr = f"{addr} {pc}" if addr and rng.random() < 0.5 else (f"{addr}, {pc}" if addr else pc)
                row = {"pupil_record_id": f"SCH{ids[k]}", "forename": fn, "surname": sn,
                       "dob": nz.dob(p, "dmy", when, "school"), "address": addr,
                       "school_name": school_of[p.pid], "academic_year": f"{year}/{(year + 1) % 100:02d}"}
                k += 1
                rows["school"].append((when, row, p))

    # ---- police: one row per person per incident ----------------------------------
    inc_no = 0
    adults_all = [p for p in town.people if p.age_on(END) >= 18]
    for hh in town.households:
        kind_p = {"lone_parent": 0.30, "couple_kids": 0.18, "single": 0.14, "share": 0.20}.get(hh.kind, 0.10)
        if rng.random() >= kind_p:
            continue
        for _ in range(geometric(rng, 0.33, 25)):
            when = rand_date(rng, START, END)
            present = [p for p in hh.members if p.dob < when]
            adults = [p for p in present if p.age_on(when) >= 18]
            kids = [p for p in present if p.age_on(when) < 18]
            involved = []
            if adults:
                involved += rng.sample(adults, min(len(adults), rng.choice([1, 1, 2])))
            involved += [c for c in kids if rng.random() < 0.4]
            if adults and rng.random() < 0.15:
                other = rng.choice(adults_all)
                if other not in involved:
                    involved.append(other)
            if not involved:
                continue
            inc_no += 1
            ref = f"INC/{when.year % 100:02d}/{inc_no:05d}"
            itype = rng.choice(["Domestic abuse", "Domestic abuse", "Missing person", "ASB", "Assault",
                                "Concern for welfare"])
            for j, p in enumerate(involved, 1):
                d = hh_of[p.pid].address_on(when, rng)
                child = p.age_on(when) < 18
                fn, sn = nz.names(p, "police", when, child_police=child)
                l1 = nz.line1(d)
                l2 = "" if (not l1 and rng.random() < 0.5) else (TOWN.upper() if l1.isupper() else TOWN)
                role = "Child present" if child else rng.choice(["Victim", "Perpetrator", "Witness"])
                row = {"incident_person_ref": f"{ref}/{j}", "forename": fn, "surname": sn,
                       "address_line1": l1, "address_line2": l2, "incident_date": when.isoformat(),
                       "incident_type": itype, "role": role}
                rows["police"].append((when, row, p))

    # ---- housing: tenancies listing household members ------------------------------
    ten_no = 0
    for hh in town.households:
        p_t = {"lone_parent": 0.45, "single": 0.22, "share": 0.10}.get(hh.kind, 0.18)
        if rng.random() >= p_t:
            continue
        tenancies = []
        if hh.old_home is not None:
            if rng.random() < 0.6:
                tenancies.append((hh.old_home, rand_date(rng, START, hh.move_date - dt.timedelta(days=1)), False))
            tenancies.append((hh.home, hh.move_date, True))
        else:
            tenancies.append((hh.home, rand_date(rng, START, END - dt.timedelta(days=30)), True))
        extra = []
        for d, when, _ in tenancies:
            if rng.random() < 0.25:     # tenancy audit re-lists the household later
                extra.append((d, rand_date(rng, when, END), False))
        for d, when, _ in tenancies + extra:
            ten_no += 1
            mem = [p for p in hh.members if p.dob <= when]
            members = [p for p in mem if p.age_on(when) >= 18 or rng.random() < 0.85]
            for j, p in enumerate(members, 1):
                fn, sn = nz.names(p, "housing", when)
                l1 = nz.line1(d)
                l2 = d.street.locality if rng.random() < 0.7 else ""
                l3 = TOWN if rng.random() < 0.85 else ""
                row = {"housing_ref": f"T{ten_no:05d}-{j:02d}", "forename": fn, "surname": sn,
                       "address_line1": l1, "address_line2": l2, "address_line3": l3,
                       "tenancy_start": when.isoformat(),
                       "tenure": rng.choice(["Secure", "Introductory", "Temporary accommodation"])}
                rows["housing"].append((when, row, p))

    # ---- social care: referrals of children (and parent/carer rows) ----------------
    ref_no = 0
    for hh in town.households:
        if not hh.children():
            continue
        if rng.random() >= (0.30 if hh.kind == "lone_parent" else 0.14):
            continue
        for _ in range(geometric(rng, 0.5, 6)):
            when = rand_date(rng, START, END)
            kids = [p for p in hh.members if p.age_on(when) < 18 and p.dob <= when + dt.timedelta(days=60)]
            if not kids:
                continue
            ref_no += 1
            chosen = [c for c in kids if rng.random() < 0.9] or [rng.choice(kids)]
            mums = {c.mother.pid: c.mother for c in chosen if c.mother and c.mother.hid == hh.hid}
            dads = {c.father.pid: c.father for c in chosen if c.father and c.father.hid == hh.hid}
            parents = [m for m in mums.values() if rng.random() < 0.7] + \
                      [f for f in dads.values() if rng.random() < 0.4]
            for j, p in enumerate(chosen + parents, 1):
                d = hh.address_on(when, rng)
                fn, sn = nz.names(p, "social_care", when)
                fmt = "dmy" if hit(rng, "social_care_dob_other_format") else "dmon"
                dob = nz.dob(p, fmt, when, "social_care") if p.dob <= when else ""
                if p.dob > when and rng.random() < 0.5:      # unborn: expected date of delivery
                    dob = nz.dob(p, fmt, when, "social_care")
                row = {"csc_record_id": f"CSC-{ref_no:04d}-{j}", "forename": fn, "surname": sn,
                       "dob": dob, "sex": nz.sex(p), "address_line1": nz.line1(d),
                       "address_line2": TOWN if rng.random() < 0.8 else "", "postcode": nz.postcode(d),
                       "referral_date": when.isoformat(),
                       "role": "Child" if p in chosen else "Parent/carer"}
                rows["social_care"].append((when, row, p))
    return rows


DEFINITIONS = {
    "police": ("Police - incidents (blind)", "incident_person_ref",
               [("incident_person_ref", None), ("forename", "forename"), ("surname", "surname"),
                ("address_line1", "address"), ("address_line2", "address"), ("incident_date", None),
                ("incident_type", None), ("role", None)]),
    "health": ("Health - attendances (blind)", "attendance_id",
               [("attendance_id", None), ("nhs_number", "nhs_number"), ("forename", "forename"),
                ("surname", "surname"), ("date_of_birth", "date_of_birth"), ("postcode", "postcode"),
                ("gp_practice", None), ("attendance_date", None)]),
    "school": ("School - pupils by year (blind)", "pupil_record_id",
               [("pupil_record_id", None), ("forename", "forename"), ("surname", "surname"),
                ("dob", "date_of_birth"), ("address", "address"), ("school_name", None),
                ("academic_year", None)]),
    "housing": ("Housing - tenancies (blind)", "housing_ref",
                [("housing_ref", None), ("forename", "forename"), ("surname", "surname"),
                 ("address_line1", "address"), ("address_line2", "address"),
                 ("address_line3", "address"), ("tenancy_start", None), ("tenure", None)]),
    "social_care": ("Social care - referrals (blind)", "csc_record_id",
                    [("csc_record_id", None), ("forename", "forename"), ("surname", "surname"),
                     ("dob", "date_of_birth"), ("sex", "gender"), ("address_line1", "address"),
                     ("address_line2", "address"), ("postcode", "postcode"), ("referral_date", None),
                     ("role", None)]),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/work/blind/blind")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    rng = random.Random(SEED)
    fake = Faker("en_GB")
    fake.seed_instance(SEED)
    town = Town(rng, fake)
    town.build()
    rows = make_extracts(town, random.Random(SEED + 1))

    truth = []
    manifest = {"source": "blind: outside tester's synthetic town 'Haverleigh' (Faker en_GB + stdlib, "
                          f"seed {SEED}); {len(town.people)} people in {len(town.households)} households",
                "datasets": []}
    for agency in ["police", "health", "school", "housing", "social_care"]:
        name, idcol, cols = DEFINITIONS[agency]
        data = sorted(rows[agency], key=lambda t: (t[0], t[1][idcol]))
        seen = set()
        with open(out / f"{agency}.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=[c for c, _ in cols])
            w.writeheader()
            for _, row, p in data:
                assert row[idcol] not in seen, (agency, row[idcol])
                seen.add(row[idcol])
                w.writerow(row)
                truth.append({"agency": agency, "source_record_id": row[idcol], "person_id": p.pid,
                              "household_id": p.hid})
        definition = {"name": name, "source_id_column": idcol,
                      "columns": [{"column": c, "identifier": ident} if ident else {"column": c, "ignore": True}
                                  for c, ident in cols]}
        manifest["datasets"].append({"agency": agency, "file": f"{agency}.csv", "rows": len(data),
                                     "definition": definition})
    with open(out / "ground_truth.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["agency", "source_record_id", "person_id", "household_id"])
        w.writeheader()
        w.writerows(truth)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    pop = {"people": len(town.people), "households": len(town.households),
           "household_kinds": dict(sorted(Counter(h.kind for h in town.households).items())),
           "rows": {d["agency"]: d["rows"] for d in manifest["datasets"]},
           "noise_fired": dict(sorted(counts.items()))}
    (out.parent / "NOISE_COUNTS.json").write_text(json.dumps(pop, indent=1) + "\n")
    print(json.dumps({k: v for k, v in pop.items() if k != "noise_fired"}, indent=1))


if __name__ == "__main__":
    main()
