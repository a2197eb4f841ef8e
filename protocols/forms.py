"""Forms for protocols, search and the assessment step. They check shape; rules live in services."""

from dataclasses import dataclass
from typing import cast

from django import forms
from django.apps import apps

from agencies.models import Agency, Dataset, Role
from core.forms import IdentifiersForm, TextDateField
from core.purpose import Purpose
from protocols.fields import FieldInfo, dataset_catalogues
from protocols.models import (
    DEFAULT_OVERRIDE_HOURS,
    DEFAULT_OVERRIDE_LENGTH_HOURS,
    MAX_OVERRIDE_HOURS,
    ConsentFromOthers,
    ConsentRule,
    Tier,
)
from protocols.preview import person_for_preview
from protocols.services import (
    COMMON_GATEWAYS,
    COMMON_LAWFUL_BASES,
    PROTOCOL_ROLES,
    TIER_KEYS,
    TIER_NAMES,
    ProtocolInput,
    RuleInput,
    SealInput,
)
from protocols.summary import ASSESSMENT_STEPS


class ProtocolForm(forms.Form):
    name = forms.CharField(max_length=200, error_messages={"required": "Give the protocol a name."})
    purpose = forms.ChoiceField(choices=Purpose.choices)
    purpose_detail = forms.CharField(
        label="What the sharing is for",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    lawful_basis = forms.CharField(
        max_length=300,
        help_text="Choose a common basis or write your own.",
        widget=forms.TextInput(attrs={"list": "lawful-bases", "autocomplete": "off"}),
        error_messages={"required": "Give the lawful basis."},
    )
    legal_gateway = forms.CharField(
        max_length=300,
        required=False,
        help_text="For example, Children Act 2004 s11.",
        widget=forms.TextInput(attrs={"list": "legal-gateways", "autocomplete": "off"}),
    )
    dpia_reference = forms.CharField(label="DPIA reference", max_length=100, required=False)
    valid_from = TextDateField(
        label="In force from", error_messages={"required": "Enter the start date."}
    )
    valid_to = TextDateField(label="In force until (optional)", required=False)
    staged = forms.BooleanField(
        label="Staged disclosure",
        required=False,
        help_text="Show only which agencies know the person until the practitioner records that "
        "their own assessment step is done.",
    )
    override_max_hours = forms.IntegerField(
        label="Longest safeguarding override, in hours",
        # Left empty, the default applies: most protocols keep it.
        required=False,
        min_value=1,
        max_value=MAX_OVERRIDE_HOURS,
        initial=DEFAULT_OVERRIDE_HOURS,
        help_text="Only for data whose consent rule gives way to a safeguarding override. "
        f"Up to {MAX_OVERRIDE_HOURS} hours; {DEFAULT_OVERRIDE_HOURS} if left empty.",
        # GOV.UK asks for a text input with a numeric keyboard, not type=number.
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
        error_messages={
            "invalid": "Enter the hours as a whole number, like 72.",
            "min_value": "Enter at least 1 hour.",
            "max_value": f"Enter {MAX_OVERRIDE_HOURS} hours (30 days) or fewer.",
        },
    )
    override_default_hours = forms.IntegerField(
        label="Usual length of a safeguarding override, in hours",
        # Left empty, the house default applies (or the longest, if that is shorter).
        required=False,
        min_value=1,
        max_value=MAX_OVERRIDE_HOURS,
        initial=DEFAULT_OVERRIDE_LENGTH_HOURS,
        help_text="The length practitioners are offered at first; they may choose more, up to "
        f"the longest above. {DEFAULT_OVERRIDE_LENGTH_HOURS} if left empty, or the longest if "
        "that is shorter.",
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
        error_messages={
            "invalid": "Enter the hours as a whole number, like 24.",
            "min_value": "Enter at least 1 hour.",
            "max_value": f"Enter {MAX_OVERRIDE_HOURS} hours (30 days) or fewer.",
        },
    )
    consent_from_others = forms.ChoiceField(
        label="When consent recorded by another agency opens an agency's records",
        choices=ConsentFromOthers.choices,
        initial=ConsentFromOthers.OWNER_CONFIRMS,
        # Left out, the safe default applies: the owner confirms.
        required=False,
        widget=forms.RadioSelect,
        help_text="Each agency is the controller of its own records. By default, consent that a "
        "practitioner of one agency records about another agency's records opens them only once "
        "that agency's IG officers confirm it; until then only a safeguarding override does.",
    )
    parties = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose the agencies party to the protocol."},
    )
    roles = forms.MultipleChoiceField(
        label="Who the protocol serves",
        choices=[(r, Role(r).label) for r in PROTOCOL_ROLES],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose the roles the protocol serves."},
    )
    change_note = forms.CharField(
        label="What changed and why (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    lawful_bases = COMMON_LAWFUL_BASES
    gateways = COMMON_GATEWAYS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.MultipleChoiceField, self.fields["parties"]).choices = [
            (str(a.pk), a.name) for a in Agency.objects.filter(is_active=True).order_by("name")
        ]

    def protocol_input(
        self, rules: tuple[RuleInput, ...], seals: tuple[SealInput, ...] = ()
    ) -> ProtocolInput:
        data = self.cleaned_data
        return ProtocolInput(
            seals=seals,
            name=data["name"],
            purpose=data["purpose"],
            purpose_detail=data["purpose_detail"],
            lawful_basis=data["lawful_basis"],
            legal_gateway=data["legal_gateway"],
            dpia_reference=data["dpia_reference"],
            valid_from=data["valid_from"],
            valid_to=data["valid_to"],
            staged=data["staged"],
            override_max_hours=data["override_max_hours"] or DEFAULT_OVERRIDE_HOURS,
            override_default_hours=data["override_default_hours"],
            consent_from_others=data["consent_from_others"] or ConsentFromOthers.OWNER_CONFIRMS,
            party_ids=tuple(int(p) for p in data["parties"]),
            roles=tuple(data["roles"]),
            change_note=data["change_note"],
            rules=rules,
        )

    @staticmethod
    def initial_from(data: ProtocolInput) -> dict:
        return {
            "name": data.name,
            "purpose": data.purpose,
            "purpose_detail": data.purpose_detail,
            "lawful_basis": data.lawful_basis,
            "legal_gateway": data.legal_gateway,
            "dpia_reference": data.dpia_reference,
            "valid_from": data.valid_from.isoformat(),
            "valid_to": data.valid_to.isoformat() if data.valid_to else "",
            "staged": data.staged,
            "override_max_hours": data.override_max_hours,
            "override_default_hours": data.usual_override_hours,
            "consent_from_others": data.consent_from_others,
            "parties": [str(p) for p in data.party_ids],
            "roles": list(data.roles),
        }


@dataclass
class RuleRow:
    """One dataset's row of the rules table on the protocol form."""

    dataset: Dataset
    catalogue: list[FieldInfo]
    tier: str = "hidden"
    consent: str = ConsentRule.NONE
    lookback: str = ""
    fields: tuple[str, ...] = ()
    error: str = ""

    @property
    def prefix(self) -> str:
        return f"rule-{self.dataset.pk}"


TIER_CHOICES = [(TIER_KEYS[t.value], t.label) for t in Tier]
CONSENT_CHOICES = ConsentRule.choices


def rule_rows(existing: tuple[RuleInput, ...] = ()) -> list[RuleRow]:
    """A row for every active agency's dataset, filled from `existing` rules."""
    datasets = list(
        Dataset.objects.filter(agency__is_active=True)
        .select_related("agency")
        .order_by("agency__name", "name")
    )
    catalogues = dataset_catalogues([d.pk for d in datasets])
    by_dataset = {rule.dataset_id: rule for rule in existing}
    rows = []
    for dataset in datasets:
        rule = by_dataset.get(dataset.pk)
        row = RuleRow(dataset=dataset, catalogue=catalogues.get(dataset.pk, []))
        if rule is not None:
            row.tier = TIER_KEYS[rule.tier]
            row.consent = rule.consent
            row.lookback = str(rule.lookback_days or "")
            row.fields = tuple(rule.fields)
        rows.append(row)
    return rows


def rules_from_post(post, rows: list[RuleRow]) -> tuple[tuple[RuleInput, ...], bool]:
    """Read the rules table back; each row keeps what was typed, with an error where it is wrong.
    Returns the rules and whether every row could be read."""
    rules = []
    ok = True
    for row in rows:
        row.tier = post.get(f"{row.prefix}-tier", "hidden")
        row.consent = post.get(f"{row.prefix}-consent", ConsentRule.NONE)
        row.lookback = post.get(f"{row.prefix}-lookback", "").strip()
        row.fields = tuple(post.getlist(f"{row.prefix}-fields"))
        if row.tier not in TIER_NAMES:
            row.error = "Choose hidden, known to, summary or full."
            ok = False
            continue
        lookback = None
        if row.lookback:
            if not row.lookback.isdigit() or int(row.lookback) < 1:
                row.error = "Enter the look-back as a whole number of days, or leave it empty."
                ok = False
                continue
            lookback = int(row.lookback)
        tier = TIER_NAMES[row.tier]
        if tier == Tier.HIDDEN:
            continue
        rules.append(
            RuleInput(
                dataset_id=row.dataset.pk,
                tier=tier,
                fields=row.fields if tier == Tier.SUMMARY else (),
                consent=row.consent,
                lookback_days=lookback,
            )
        )
    return tuple(rules), ok


class ReasonForm(forms.Form):
    # Length and identifiers are the service's to judge (protocols.suspension), so its errors,
    # which say how many characters are missing, are the ones shown.
    reason = forms.CharField(
        label="Why is the protocol suspended?",
        required=False,
        help_text="At least 20 characters. Every party's IG officers will read it. Do not name "
        "anyone or give any identifier: refer to a person by their ShareHub reference.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ResumeForm(forms.Form):
    # As ReasonForm: the service judges the reason, by the same rules as a suspension's.
    reason = forms.CharField(
        label="Why is it safe to resume the protocol?",
        required=False,
        help_text="At least 20 characters. Every party's IG officers will read it, the party "
        "that suspended it too: say what was put right. Do not name anyone or give any "
        "identifier: refer to a person by their ShareHub reference.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class NoteForm(forms.Form):
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class AssignForm(forms.Form):
    email = forms.EmailField(
        label="Email address of a colleague in your agency",
        required=False,
    )
    group = forms.CharField(label="Or a group name", required=False, max_length=150)

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if not data.get("email") and not data.get("group"):
            raise forms.ValidationError("Enter a colleague's email address or a group name.")
        return data


class SearchForm(IdentifiersForm):
    purpose = forms.ChoiceField(choices=Purpose.choices, initial=Purpose.SAFEGUARDING)


class UnlockForm(forms.Form):
    step = forms.ChoiceField(
        label="Which of your own assessment steps is done?",
        choices=list(ASSESSMENT_STEPS.items()),
        widget=forms.RadioSelect,
        error_messages={"required": "Choose the assessment step you have completed."},
    )


class PreviewForm(forms.Form):
    """Who the preview is for: a role and an agency among the version's, a purpose, and
    optionally a person of the previewer's own agency by ShareHub reference. Read from the
    query string, so a preview can be shared with a colleague as a link (a reference is
    ShareHub's own, never an identifier)."""

    role = forms.ChoiceField(label="Role")
    agency = forms.ChoiceField(label="Agency")
    purpose = forms.ChoiceField(label="Purpose", choices=Purpose.choices)
    person = forms.CharField(
        label="ShareHub reference of a person (optional)",
        required=False,
        max_length=20,
        help_text="Leave empty to see an example person whose every field is filled in. "
        "Only a person your agency holds a record about can be previewed.",
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
    )

    NO_SUCH_PERSON = (
        "No person your agency holds a record about has that reference. Check the reference, "
        "or leave it empty to see an example person."
    )

    def __init__(self, data, *, version, membership):
        self.membership = membership
        self.parties = {a.code: a for a in version.parties.order_by("name")}
        labels = dict(Role.choices)
        super().__init__(data)
        cast(forms.ChoiceField, self.fields["role"]).choices = [
            (r, labels.get(r, r)) for r in version.roles
        ]
        cast(forms.ChoiceField, self.fields["agency"]).choices = [
            (code, a.name) for code, a in self.parties.items()
        ]

    @classmethod
    def defaults(cls, *, version, membership) -> dict:
        """The preview a bare link opens: the version's first role, the previewer's own agency,
        the version's purpose, the example person."""
        return {
            "role": (version.roles or [""])[0],
            "agency": membership.agency.code,
            "purpose": version.purpose,
            "person": "",
        }

    def clean_agency(self):
        return self.parties[self.cleaned_data["agency"]]

    def clean_person(self):
        reference = self.cleaned_data["person"].strip()
        if not reference:
            return None
        # One answer for every reason (no such reference, another agency's person): the form
        # must not tell the previewer who exists.
        person = person_for_preview(membership=self.membership, reference=reference)
        if person is None:
            raise forms.ValidationError(self.NO_SUCH_PERSON)
        return person


# Blank sealing rows the form offers below the existing ones; save and edit again for more.
SEAL_BLANK_ROWS = 2
SEAL_MAX_ROWS = 50


@dataclass
class SealRow:
    """One sealing rule's row on the protocol form: what to seal by, the value, and why."""

    number: int
    what: str = ""
    value: str = ""
    reason: str = ""
    error: str = ""

    @property
    def prefix(self) -> str:
        return f"seal-{self.number}"


def _seal_what(seal: SealInput) -> str:
    if seal.indicator_id is not None:
        return f"{seal.dataset_id}|indicator:{seal.indicator_id}"
    return f"{seal.dataset_id}|{seal.field_key}"


def seal_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """What a record can be sealed by, grouped by dataset: each payload field ("Clinic type
    is ...") and each risk indicator that reads the dataset."""
    datasets = list(
        Dataset.objects.filter(agency__is_active=True)
        .select_related("agency")
        .order_by("agency__name", "name")
    )
    catalogues = dataset_catalogues([d.pk for d in datasets])
    # Risk sits above protocols: its model is looked up by name rather than imported.
    indicators: dict[int, list[tuple[int, str]]] = {}
    indicator_model = apps.get_model("risk", "RiskIndicator")
    for pk, name, dataset_id in indicator_model._default_manager.filter(is_active=True).values_list(
        "pk", "name", "datasets"
    ):
        if dataset_id is not None:
            indicators.setdefault(dataset_id, []).append((pk, name))
    groups = []
    for dataset in datasets:
        options = [
            (f"{dataset.pk}|{info.key}", f"{info.label} is ...")
            for info in catalogues.get(dataset.pk, [])
            if not info.is_identity
        ]
        options += [
            (f"{dataset.pk}|indicator:{pk}", f'Found by the risk indicator "{name}"')
            for pk, name in sorted(indicators.get(dataset.pk, []), key=lambda i: i[1])
        ]
        if options:
            groups.append((f"{dataset.agency.name}: {dataset.name}", options))
    return groups


def seal_rows(existing: tuple[SealInput, ...] = ()) -> list[SealRow]:
    rows = [
        SealRow(number, _seal_what(seal), seal.value, seal.reason)
        for number, seal in enumerate(existing, start=1)
    ]
    start = len(rows) + 1
    rows += [SealRow(number) for number in range(start, start + SEAL_BLANK_ROWS)]
    return rows


def seals_from_post(post) -> tuple[tuple[SealInput, ...], list[SealRow], bool]:
    """Read the sealing rows back, keeping what was typed. A row left wholly empty is no rule;
    "No sealing rule" with a value or reason asks what to seal by, so nothing typed is lost.
    Returns the rules, the rows to show again, and whether every row could be read."""
    try:
        count = min(int(post.get("seal-rows", "0")), SEAL_MAX_ROWS)
    except ValueError:
        count = 0
    seals = []
    rows = []
    ok = True
    for number in range(1, count + 1):
        row = SealRow(
            number,
            post.get(f"seal-{number}-what", "").strip(),
            post.get(f"seal-{number}-value", "").strip(),
            post.get(f"seal-{number}-reason", "").strip(),
        )
        rows.append(row)
        if not row.what:
            if row.value or row.reason:
                row.error = "Choose what to seal by, or clear the value and the reason."
                ok = False
            continue
        dataset, _, key = row.what.partition("|")
        if not dataset.isdigit() or not key:
            row.error = "Choose what to seal by from the list."
            ok = False
            continue
        if key.startswith("indicator:"):
            indicator = key.removeprefix("indicator:")
            if not indicator.isdigit():
                row.error = "Choose what to seal by from the list."
                ok = False
                continue
            if row.value:
                row.error = "A rule by risk indicator takes no value; clear the value."
                ok = False
                continue
            seals.append(
                SealInput(dataset_id=int(dataset), reason=row.reason, indicator_id=int(indicator))
            )
        else:
            seals.append(
                SealInput(
                    dataset_id=int(dataset), reason=row.reason, field_key=key, value=row.value
                )
            )
    return tuple(seals), rows, ok
