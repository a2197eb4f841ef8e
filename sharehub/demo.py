"""The demo partnership that `make demo` loads: five agencies and a login for every role."""

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model

from agencies.models import AgencyKind, Role
from agencies.services import agency_create_or_update, user_with_membership_ensure
from matching.review import reviewer_grant
from synthetic.loading import synthetic_load
from synthetic.services import synthetic_population_write

# Printed by `make demo`; refused under SHAREHUB_PRODUCTION by the command.
DEMO_PASSWORD = "demo-sharehub-2026"  # noqa: S105 - demo data only, never a deployment

DEMO_AGENCIES = [
    ("CSC", "Northbridge Children's Services", AgencyKind.CHILDRENS_SOCIAL_CARE),
    ("POL", "Northbridge Police", AgencyKind.POLICE),
    ("HLT", "Northbridge Health NHS Trust", AgencyKind.HEALTH),
    ("EDU", "Northbridge Education", AgencyKind.EDUCATION),
    ("HSG", "Northbridge Housing", AgencyKind.HOUSING),
]


@dataclass(frozen=True)
class DemoLogin:
    email: str
    full_name: str
    agency_code: str | None
    role: str


DEMO_LOGINS = [
    DemoLogin("practitioner@csc.demo.sharehub.example", "Priya Shah", "CSC", Role.PRACTITIONER),
    DemoLogin("practitioner@pol.demo.sharehub.example", "Tom Reilly", "POL", Role.PRACTITIONER),
    DemoLogin("ig@csc.demo.sharehub.example", "Grace Okafor", "CSC", Role.IG_OFFICER),
    DemoLogin("ig@pol.demo.sharehub.example", "Martin Hale", "POL", Role.IG_OFFICER),
    DemoLogin("admin@csc.demo.sharehub.example", "Sam Patel", "CSC", Role.AGENCY_ADMIN),
    DemoLogin("admin@pol.demo.sharehub.example", "Jo Evans", "POL", Role.AGENCY_ADMIN),
    DemoLogin("admin@hlt.demo.sharehub.example", "Alex Brown", "HLT", Role.AGENCY_ADMIN),
    DemoLogin("admin@edu.demo.sharehub.example", "Chris Wood", "EDU", Role.AGENCY_ADMIN),
    DemoLogin("admin@hsg.demo.sharehub.example", "Dana Clarke", "HSG", Role.AGENCY_ADMIN),
    DemoLogin("analyst@csc.demo.sharehub.example", "Lee Morgan", "CSC", Role.ANALYST),
    DemoLogin("platform@demo.sharehub.example", "Robin Ellis", None, Role.PLATFORM_ADMIN),
]


DEMO_PEOPLE = 2000
DEMO_SEED = 2026
# Which demo agency holds which synthetic extract.
SYNTHETIC_HOLDERS = {
    "social_care": "CSC",
    "police": "POL",
    "health": "HLT",
    "education": "EDU",
    "housing": "HSG",
}


DEMO_REVIEWER = "ig@csc.demo.sharehub.example"


def demo_load(*, people: int = DEMO_PEOPLE) -> list[DemoLogin]:
    """Create or refresh the demo agencies and logins, and load a synthetic population's extracts.

    Running it twice changes nothing more: extracts already loaded are not sent again.
    """
    agencies = {
        code: agency_create_or_update(code=code, name=name, kind=kind)
        for code, name, kind in DEMO_AGENCIES
    }
    for login in DEMO_LOGINS:
        user_with_membership_ensure(
            email=login.email,
            full_name=login.full_name,
            agency=agencies[login.agency_code] if login.agency_code else None,
            role=login.role,
            password=DEMO_PASSWORD,
        )
    # The children's services IG officer reviews uncertain links in the demo.
    reviewer_grant(user=get_user_model().objects.get(email=DEMO_REVIEWER))
    if people:
        out_dir = Path(settings.VAR_DIR) / f"demo-synthetic-{people}-{DEMO_SEED}"
        if not (out_dir / "manifest.json").exists():
            synthetic_population_write(people=people, seed=DEMO_SEED, out_dir=out_dir)
        synthetic_load(
            out_dir=out_dir,
            agencies={kind: agencies[code] for kind, code in SYNTHETIC_HOLDERS.items()},
        )
    return DEMO_LOGINS
