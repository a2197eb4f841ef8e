"""The demo partnership that `make demo` loads: five agencies and a login for every role."""

import shutil
import tempfile
from dataclasses import dataclass
from datetime import date
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
    # Answers consent requests about health records, which the MASH protocol shares only with
    # consent or under a safeguarding override.
    DemoLogin("practitioner@hlt.demo.sharehub.example", "Hannah Lewis", "HLT", Role.PRACTITIONER),
    DemoLogin("ig@csc.demo.sharehub.example", "Grace Okafor", "CSC", Role.IG_OFFICER),
    DemoLogin("ig2@csc.demo.sharehub.example", "Amara Osei", "CSC", Role.IG_OFFICER),
    DemoLogin("ig@pol.demo.sharehub.example", "Martin Hale", "POL", Role.IG_OFFICER),
    DemoLogin("ig@hlt.demo.sharehub.example", "Nadia Rahman", "HLT", Role.IG_OFFICER),
    DemoLogin("ig@edu.demo.sharehub.example", "Owen Price", "EDU", Role.IG_OFFICER),
    DemoLogin("ig@hsg.demo.sharehub.example", "Ruth Akande", "HSG", Role.IG_OFFICER),
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
        _demo_sources_load(agencies, people=people)
        demo_protocol_ensure(agencies)
        demo_consent_work(agencies["HLT"])
        demo_insights_protocol_ensure(agencies)
        demo_risk_ensure(agencies)
    return DEMO_LOGINS


def _demo_sources_load(agencies, *, people: int) -> None:
    """Write the synthetic extracts, load them, and leave nothing of them behind.

    The files are what an agency's extract would be: plaintext names, dates of birth, NHS
    numbers and addresses, and the ground truth of who is who. They are written to a directory
    only the owner may open (mkdtemp makes it 0700), readable by the owner alone, and deleted
    once loaded, the way ingest deletes a real upload. The generator is seeded, so a second run
    writes the same files again; extracts already loaded are not sent twice.
    """
    var_dir = Path(settings.VAR_DIR)
    var_dir.mkdir(parents=True, exist_ok=True)
    # Earlier versions of the demo kept the files here, readable by anyone on the machine.
    for left_behind in var_dir.glob("demo-synthetic-*"):
        if left_behind.is_dir():
            shutil.rmtree(left_behind)
    with tempfile.TemporaryDirectory(prefix="demo-sources-", dir=var_dir) as work:
        out_dir = Path(work)
        synthetic_population_write(people=people, seed=DEMO_SEED, out_dir=out_dir)
        for written in out_dir.rglob("*"):
            if written.is_file():
                written.chmod(0o600)
        synthetic_load(
            out_dir=out_dir,
            agencies={kind: agencies[code] for kind, code in SYNTHETIC_HOLDERS.items()},
        )


DEMO_PROTOCOL = "Northbridge MASH information sharing protocol"
# Who to contact at the police about an incident: the officer in the case and their team.
# Social care's rule is "full", so its allocated worker and team are shared with the rest.
POLICE_CONTACT_FIELDS = ("officer_in_case", "team", "team_phone", "team_email")
# What the MASH protocol shares of each agency's dataset (by agency code): the tier, the fields
# of a summary (the synthetic extracts' column names) and the consent rule.
DEMO_RULES = {
    "CSC": ("full", (), "none"),
    "POL": (
        "summary",
        ("incident_date", "incident_type", "role", "risk_grade", *POLICE_CONTACT_FIELDS),
        "none",
    ),
    "HLT": ("full", (), "unless_override"),
    "EDU": ("summary", ("school", "attendance_pct", "exclusion_type"), "none"),
    "HSG": ("known_to", (), "none"),
}


def demo_protocol_ensure(agencies) -> None:
    """The MASH protocol for the demo practitioners; once."""
    from core.purpose import Purpose

    _demo_protocol_in_force(
        agencies,
        name=DEMO_PROTOCOL,
        purpose=Purpose.SAFEGUARDING,
        detail="Triage of safeguarding referrals in the Multi-Agency Safeguarding Hub.",
        gateway="Children Act 2004 s11; Children Act 1989 s47",
        dpia="DPIA-2026-014",
        role=Role.PRACTITIONER,
        rules=DEMO_RULES,
        identity=("forename", "surname", "date_of_birth"),
        note="Agreed at MASH board",
    )


def _demo_protocol_in_force(
    agencies, *, name, purpose, detail, gateway, dpia, role, rules, identity, note
) -> None:
    """Draft, approve by every party, and give to the demo logins acting in `role`, a protocol
    with `rules` ({agency code: (tier, payload columns, consent)}), the way IG officers would;
    once. A summary rule shows the columns and the `identity` fields the dataset has."""
    from agencies.models import Membership
    from protocols.fields import dataset_catalogues, identity_key, payload_key
    from protocols.models import ProtocolVersion
    from protocols.services import (
        TIER_NAMES,
        ProtocolInput,
        RuleInput,
        protocol_approve,
        protocol_assign,
        protocol_draft_create,
        protocol_submit,
    )

    if ProtocolVersion.objects.filter(name=name).exists():
        return
    ig = {
        login.email: Membership.objects.get(
            user__email=login.email, agency__code=login.agency_code, role=Role.IG_OFFICER
        )
        for login in DEMO_LOGINS
        if login.role == Role.IG_OFFICER
    }
    datasets = {code: agency.datasets.order_by("pk").first() for code, agency in agencies.items()}
    catalogues = dataset_catalogues([d.pk for d in datasets.values() if d])
    rule_inputs = []
    for code, (tier, fields, consent) in rules.items():
        dataset = datasets.get(code)
        if dataset is None:
            continue
        known = {f.key for f in catalogues.get(dataset.pk, [])}
        keys = [payload_key(f) for f in fields] + [identity_key(n) for n in identity]
        rule_inputs.append(
            RuleInput(
                dataset_id=dataset.pk,
                tier=TIER_NAMES[tier],
                fields=tuple(k for k in keys if k in known) if tier == "summary" else (),
                consent=consent,
            )
        )
    author = ig["ig@csc.demo.sharehub.example"]
    version = protocol_draft_create(
        membership=author,
        data=ProtocolInput(
            name=name,
            purpose=purpose,
            purpose_detail=detail,
            lawful_basis="UK GDPR Art 6(1)(e) public task; Art 9(2)(g) substantial public interest",
            legal_gateway=gateway,
            dpia_reference=dpia,
            valid_from=date(2026, 1, 1),
            party_ids=tuple(a.pk for a in agencies.values()),
            roles=(role,),
            rules=tuple(rule_inputs),
        ),
    )
    protocol_submit(membership=author, version=version)
    for membership in ig.values():
        if membership != author:
            protocol_approve(membership=membership, version=version, note=note)
    # Each agency's IG officer gives the protocol to their own staff in the role.
    officers: dict[str | None, Membership] = {m.own_agency.code: m for m in ig.values()}
    for login in DEMO_LOGINS:
        if login.role == role:
            protocol_assign(
                membership=officers[login.agency_code],
                protocol=version.protocol,
                user=get_user_model().objects.get(email=login.email),
            )


def demo_consent_work(health) -> None:
    """Work waiting in the demo: a consent request to health from the CSC practitioner, and a
    safeguarding override by the police practitioner awaiting IG review. Made through the same
    services the pages use, about two people health knows; once."""
    from agencies.models import Membership
    from consent.models import ConsentRequest, OverrideCategory, SafeguardingOverride
    from consent.overrides import override_start
    from consent.requests import consent_request_create
    from core.purpose import Purpose
    from matching.models import LinkageRecord, Person
    from protocols.models import ProtocolVersion

    if ConsentRequest.objects.exists() or SafeguardingOverride.objects.exists():
        return
    dataset = health.datasets.order_by("pk").first()
    people = list(
        Person.objects.filter(
            is_active=True,
            pk__in=LinkageRecord.objects.filter(agency_id=health.pk).values("person_id"),
        ).order_by("pk")[:2]
    )
    if dataset is None or len(people) < 2:
        return
    memberships = {
        m.user.email: m
        for m in Membership.objects.filter(role=Role.PRACTITIONER).select_related("user", "agency")
    }
    csc = memberships["practitioner@csc.demo.sharehub.example"]
    consent_request_create(
        user=csc.user,
        membership=csc,
        person=people[0],
        purpose=Purpose.SAFEGUARDING,
        dataset_id=dataset.pk,
        reason="Referral from school about missed medical appointments; the strategy discussion "
        "needs the health history.",
    )
    police = memberships["practitioner@pol.demo.sharehub.example"]
    override_start(
        user=police.user,
        membership=police,
        person=people[1],
        protocol_id=ProtocolVersion.objects.get(name=DEMO_PROTOCOL, number=1).protocol_id,
        category=OverrideCategory.SEEKING_INCREASES_RISK,
        justification="Domestic abuse call-out overnight with a child present; the alleged "
        "perpetrator lives at the address, so asking the family would warn them.",
        hours=72,
    )


DEMO_INSIGHTS_PROTOCOL = "Northbridge partnership insights protocol"
# What analysts may count and export for commissioning: categories and dates, no free text.
DEMO_INSIGHT_FIELDS = {
    "CSC": ("referral_date", "referral_source", "category_of_need", "cp_plan_start", "cp_category"),
    "POL": ("incident_date", "incident_type", "role", "risk_grade"),
    "HLT": ("attendance_date", "service", "safeguarding_flag", "substance_misuse"),
    "EDU": ("census_term", "attendance_pct", "exclusions_fixed", "sen_status", "fsm"),
    "HSG": ("snapshot_date", "tenancy_status", "arrears_band", "temporary_accommodation"),
}


def demo_insights_protocol_ensure(agencies) -> None:
    """A commissioning protocol for the analyst; once. Dates of birth are shared so that exports
    can give age bands (the export never writes the date)."""
    from core.purpose import Purpose

    _demo_protocol_in_force(
        agencies,
        name=DEMO_INSIGHTS_PROTOCOL,
        purpose=Purpose.COMMISSIONING,
        detail="Joint strategic needs assessment and commissioning of early help.",
        gateway="Children Act 2004 s10",
        dpia="DPIA-2026-021",
        role=Role.ANALYST,
        rules={code: ("summary", fields, "none") for code, fields in DEMO_INSIGHT_FIELDS.items()},
        identity=("date_of_birth",),
        note="Agreed at the partnership board",
    )


def demo_risk_ensure(agencies, *, by=None, run: bool = True) -> None:
    """The partnership's demo indicators and alert rules, the practitioners' subscriptions and
    one scoring run; once. `agencies` by demo code (CSC, POL, HLT, EDU, HSG); bench.enrich uses
    the same indicators and rules."""
    from agencies.models import Membership
    from alerts.models import RuleKind
    from alerts.rules import RuleInput as AlertRuleInput
    from alerts.rules import rule_save, subscription_set
    from risk.indicators import IndicatorInput
    from risk.models import IndicatorKind, RiskIndicator, RiskRun
    from risk.services import enrich_run, indicator_save

    if RiskIndicator.objects.exists():
        return
    platform = by or get_user_model().objects.filter(email="platform@demo.sharehub.example").first()
    dataset = {code: agency.datasets.order_by("pk").first() for code, agency in agencies.items()}
    structured, vocabulary = IndicatorKind.STRUCTURED, IndicatorKind.VOCABULARY

    def condition(column, op, value=None):
        return {"column": column, "op": op, "value": value}

    specs = [
        (
            "Domestic abuse incident with a child present",
            structured,
            ["POL"],
            30,
            180,
            365,
            [
                condition("incident_type", "is", "Domestic abuse"),
                condition("role", "is", "Child present"),
            ],
            [],
        ),
        (
            "Domestic abuse incident",
            structured,
            ["POL"],
            15,
            180,
            730,
            [condition("incident_type", "is", "Domestic abuse")],
            [],
        ),
        (
            "Missing episode",
            structured,
            ["POL"],
            12,
            120,
            365,
            [condition("incident_type", "is", "Missing person")],
            [],
        ),
        (
            "Child protection plan active",
            structured,
            ["CSC"],
            25,
            None,
            None,
            [condition("cp_plan_start", "present"), condition("cp_plan_end", "absent")],
            [],
        ),
        (
            "Fixed-term exclusion in the summer term",
            structured,
            ["EDU"],
            10,
            120,
            None,
            [
                condition("exclusions_fixed", "at_least", 1),
                condition("census_term", "is", "Summer 2026"),
            ],
            [],
        ),
        (
            "Substance misuse flagged by health",
            structured,
            ["HLT"],
            8,
            180,
            730,
            [condition("substance_misuse", "yes")],
            [],
        ),
        (
            "Substance misuse in notes",
            vocabulary,
            ["CSC", "POL"],
            10,
            180,
            730,
            [],
            [
                "substance misuse",
                "misus* alcohol",
                "alcohol misuse",
                "drug use",
                "crack cocaine",
                "cannabis",
                "heavily intoxicated",
                "drug paraphernalia",
            ],
        ),
        (
            "Domestic abuse in notes",
            vocabulary,
            ["CSC", "POL"],
            10,
            180,
            730,
            [],
            [
                "domestic abuse",
                "coercive and controlling",
                "strangulation",
                "non-molestation order",
                "witnessed the assault",
            ],
        ),
    ]
    for name, kind, codes, weight, half_life, lookback, conditions, phrases in specs:
        indicator_save(
            by=platform,
            rescore=False,
            data=IndicatorInput(
                name=name,
                kind=kind,
                datasets=[dataset[c] for c in codes if dataset.get(c)],
                weight=weight,
                half_life_days=half_life,
                lookback_days=lookback,
                conditions=conditions,
                phrases=phrases,
            ),
        )
    rules = [
        AlertRuleInput(
            name="High risk: score above 20",
            kind=RuleKind.SCORE_ABOVE,
            threshold=20,
            description="Agreed by the MASH board as the level for a multi-agency review.",
        ),
        AlertRuleInput(
            name="Rising quickly: up 20 in 30 days",
            kind=RuleKind.SCORE_RISING,
            rise=20,
            window_days=30,
        ),
        AlertRuleInput(
            name="New domestic abuse incident for a child open to children's social care",
            kind=RuleKind.NEW_EVENT_WHILE_OPEN,
            indicator=RiskIndicator.objects.get(
                name="Domestic abuse incident with a child present"
            ),
            open_agency=agencies["CSC"],
            open_within_days=365,
            new_within_days=14,
        ),
        AlertRuleInput(
            name="Possible step-down",
            kind=RuleKind.STEP_DOWN,
            threshold=30,
            lower_threshold=15,
            window_days=90,
            description="The score has fallen a long way: consider stepping down.",
        ),
    ]
    saved = [rule_save(by=platform, data=rule) for rule in rules]
    for membership in Membership.objects.filter(
        role=Role.PRACTITIONER, agency__code__in=["CSC", "POL"]
    ):
        for rule in saved:
            subscription_set(membership=membership, rule=rule, subscribed=True)
    if run:
        enrich_run(kind=RiskRun.Kind.INDICATORS)
