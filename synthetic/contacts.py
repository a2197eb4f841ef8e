"""Who to contact at an agency about a synthetic record: the lead worker, team, phone and email.

Social care allocates a family to a team and a social worker, who may change from one year to
the next; the police name an officer in the case for each incident, from the team that deals
with incidents of its type. The staff are invented, and their surnames are in none of the
population's surname lists, so a worker is never mistaken for the person a record is about.
Phone numbers are in Ofcom's range for drama (01632 960xxx), emails at a reserved domain
(.example). Drawn from a random stream of their own, so the rest of each extract is unchanged.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Team:
    name: str
    phone: str
    email: str
    staff: tuple[str, ...]


def _team(name: str, extension: int, mailbox: str, domain: str, staff: str) -> Team:
    return Team(
        name=name,
        phone=f"01632 960{extension:03d}",
        email=f"{mailbox}@{domain}",
        staff=tuple(s.strip() for s in staff.split(",")),
    )


_CSC = "childrens-services.northbridge.example"
SOCIAL_CARE_TEAMS = (
    _team(
        "Referral and Assessment Team North",
        101,
        "ra.north",
        _CSC,
        "Ama Quarshie, Bethan Carnhuanawc, Callum Strachan, Delyth Pughe",
    ),
    _team(
        "Referral and Assessment Team South",
        102,
        "ra.south",
        _CSC,
        "Efua Boakye-Ansah, Fergus Menzies-Ure, Gwenllian Tudur, Harjit Sahota-Virdee",
    ),
    _team(
        "Child Protection and Court Team",
        103,
        "cp.court",
        _CSC,
        "Imogen Fairweather-Lusk, Jerome Ashcombe-Tate, Keziah Marwood, Lowri Cadwaladr",
    ),
    _team(
        "Children in Need Team East",
        104,
        "cin.east",
        _CSC,
        "Marisol Echeverri, Niamh Ui Bhriain, Oluwaseun Adeyemo-Park, Priti Vaghjiani",
    ),
)

_POLICE = "police.northbridge.example"
POLICE_TEAMS = {
    "Domestic abuse": _team(
        "Public Protection Unit",
        201,
        "ppu",
        _POLICE,
        "DC Rhodri Penhaligon, DC Saoirse Mac Giolla, DS Tomasz Wierzbicki-Hart, "
        "DC Uzma Lakhani-Vance",
    ),
    "Child welfare concern": _team(
        "Child Protection Investigation Team",
        202,
        "cpit",
        _POLICE,
        "DC Vivienne Ashdown-Pryde, DC Wendell Ezeogu-Lind, DS Xanthe Marchbanks",
    ),
    "Missing person": _team(
        "Missing from Home Team",
        203,
        "missing.persons",
        _POLICE,
        "PC Yusuf Haldane-Amin, PC Zara Threlkeld, PS Alun Gwynfor",
    ),
}
POLICE_OTHER_TEAM = _team(
    "Neighbourhood Policing Team",
    204,
    "npt",
    _POLICE,
    "PC Bramwell Esterhuizen, PC Catrin Rhydderch, PC Dafydd Maelor-Pryce, PS Elspeth Urquhart",
)
# How often social care leaves the allocated worker blank (a case not yet allocated).
UNALLOCATED = 0.04


class ContactBook:
    """Hands out the same contact for the same household and year (social care) or incident
    (police), from a random stream of its own."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._teams: dict[str, Team] = {}
        self._workers: dict[tuple[str, int], str] = {}
        self._officers: dict[str, str] = {}

    def social_care(self, household_id: str, year: int) -> tuple[str, str, str, str]:
        """(allocated worker, team, team phone, team email) of a household's case in a year."""
        team = self._teams.get(household_id)
        if team is None:
            team = self._teams[household_id] = self.rng.choice(SOCIAL_CARE_TEAMS)
        worker = self._workers.get((household_id, year))
        if worker is None:
            previous = self._workers.get((household_id, year - 1))
            # Most families keep their social worker into the next year.
            if previous and self.rng.random() < 0.6:
                worker = previous
            else:
                worker = "" if self.rng.random() < UNALLOCATED else self.rng.choice(team.staff)
            self._workers[(household_id, year)] = worker
        return worker, team.name, team.phone, team.email

    def police(self, incident_ref: str, incident_type: str) -> tuple[str, str, str, str]:
        """(officer in the case, team, team phone, team email) of an incident."""
        team = POLICE_TEAMS.get(incident_type, POLICE_OTHER_TEAM)
        officer = self._officers.get(incident_ref)
        if officer is None:
            officer = self._officers[incident_ref] = self.rng.choice(team.staff)
        return officer, team.name, team.phone, team.email
