"""How a case summary reads: who the person is once, who knows them, then one line per event.

A practitioner opening a child's summary in a strategy discussion needs three answers at a
glance: is this the child I mean (identity, and how sure the links are), who else knows them
and whom to call (one block per agency, its latest event and the protocol it is shared under),
and what has happened, newest first (a chronology of one line per event, details on demand).
Everything here is laid out from the disclosure engine's PersonView: nothing is read that the
engine did not show, and a field the engine shows is never dropped, only moved (an identity
value to the identity block with the agencies that record it, the rest of a record's fields to
its details).
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from agencies.models import Agency
from matching.confidence import LinkConfidence, link_confidence, weakest
from protocols.contacts import Contact, involvement_contacts
from protocols.engine import FieldView, Involvement, PersonView, RecordView, Withheld
from protocols.fields import IDENTITY, identity_key

# How many fields a chronology line carries before "details"; a line longer than this many
# characters is cut, so one event stays one line at a laptop's width.
KEY_FIELDS = 3
LATEST_FIELDS = 2
NOT_RECORDED = "Not recorded on the records shared with you"
LINE_CHARACTERS = 110
# Types a one-line summary reads well; long free text waits for the details.
_SHORT_TYPES = ("category", "boolean", "number", "date")


def day_text(value: date | None) -> str:
    """Every date on the summary in one style, GOV.UK's: 8 June 2020."""
    return f"{value.day} {value:%B %Y}" if value else ""


def value_text(field_view: FieldView) -> str:
    """A shown field's value as a practitioner reads it."""
    value = field_view.value
    if value is None or value == "":
        return "Not recorded"
    if value is True:
        return "Yes"
    if value is False:
        return "No"
    if field_view.type == "date" or field_view.key == identity_key("date_of_birth"):
        try:
            return day_text(date.fromisoformat(str(value)[:10]))
        except ValueError:
            return str(value)  # a partial date (a year alone) reads as the agency sent it
    return str(value)


@dataclass
class IdentityPart:
    """One identifier, once: the value most records give, the agencies recording it, and the
    other values recorded (a misspelling, an old postcode), each with its agencies."""

    key: str
    label: str
    value: str
    agencies: list[Agency]
    others: list[tuple[str, list[Agency]]] = field(default_factory=list)


@dataclass
class AgencyBlock:
    """What one agency's dataset says about the person, in a line or two."""

    involvement: Involvement
    protocols: list[str]
    latest_record: RecordView | None
    latest_line: str
    confidence: LinkConfidence | None  # the weakest link among the dataset's records
    withheld: list[Withheld]
    # The day the reader's agency asked the holder to seek consent, while that request is open:
    # said instead of offering to ask again.
    consent_requested_on: date | None = None
    # Who to contact at the agency, from the fields the engine shows (protocols.contacts).
    contact: Contact | None = None

    @property
    def agency(self) -> Agency:
        return self.involvement.agency


@dataclass
class ChronologyLine:
    record: RecordView
    date_text: str
    line: str
    # Every field of the record the engine returned, with the value as read (or, withheld, the
    # reason): its identifiers in one line, as the summary says who the person is above; the
    # rest one to a line.
    identity: list[tuple[FieldView, str]]
    detail: list[tuple[FieldView, str]]
    not_shared: list[str]
    confidence: LinkConfidence | None


@dataclass
class HouseholdMember:
    view: PersonView
    agency_codes: list[str]


@dataclass
class SummaryPage:
    view: PersonView
    identity: list[IdentityPart]
    agencies: list[AgencyBlock]
    chronology: list[ChronologyLine]
    # The agencies a reader can filter the chronology by, (code, name), and the one chosen.
    agency_choices: list[tuple[str, str]]
    agency_chosen: str
    weakest_link: LinkConfidence | None
    weakest_link_at: AgencyBlock | None
    household: list[HouseholdMember] = field(default_factory=list)
    # An agency asked for that is not among those shown: the page says so rather than quietly
    # showing every agency.
    agency_unknown: bool = False
    # The protocols every agency block is shared under, when they are the same for all: said
    # once above the blocks rather than in each. Empty when the blocks differ.
    protocols_shared: list[str] = field(default_factory=list)
    confidence: dict[int, LinkConfidence] = field(default_factory=dict)


def summary_page(
    view: PersonView,
    *,
    household: Sequence[PersonView] = (),
    agency_code: str = "",
    consent_pending: dict[int, date] | None = None,
) -> SummaryPage:
    """The summary laid out for reading; `household` the other members the engine shows;
    `agency_code` keeps the chronology to one agency; `consent_pending`, {dataset id: day
    asked} of the reader's agency's open consent requests (consent.selectors)."""
    # The identifiers the reader is shown of each record: the link words name only those.
    confidence = link_confidence(
        (r for i in view.involvements for r in i.record_ids),
        shown={
            record: frozenset(k.removeprefix(IDENTITY) for k in keys if k.startswith(IDENTITY))
            for record, keys in view.shown_keys.items()
        },
    )
    blocks = [_agency_block(view, involvement, confidence) for involvement in view.involvements]
    contacts = involvement_contacts(view)
    for block in blocks:
        block.consent_requested_on = (consent_pending or {}).get(block.involvement.dataset_id)
        block.contact = contacts.get(block.involvement.dataset_id)
    choices = list(dict.fromkeys((i.agency.code, i.agency.name) for i in view.involvements))
    # Codes are written in capitals; one typed in lower case is the same agency.
    agency_code = agency_code.strip().upper()
    chosen = agency_code if agency_code in {code for code, _ in choices} else ""
    timeline = [r for r in view.timeline() if not chosen or r.agency.code == chosen]
    weakest_block = None
    weakest_link = weakest(b.confidence for b in blocks if b.confidence)
    if weakest_link is not None:
        weakest_block = next(b for b in blocks if b.confidence is weakest_link)
    return SummaryPage(
        view=view,
        identity=_identity(view),
        agencies=blocks,
        chronology=[_line(record, confidence.get(record.record_id)) for record in timeline],
        agency_choices=choices,
        agency_chosen=chosen,
        agency_unknown=bool(agency_code) and not chosen,
        weakest_link=weakest_link,
        weakest_link_at=weakest_block,
        household=[
            HouseholdMember(m, sorted({i.agency.code for i in m.involvements})) for m in household
        ],
        protocols_shared=_shared_by_all(blocks),
        confidence=confidence,
    )


def _shared_by_all(blocks: list[AgencyBlock]) -> list[str]:
    found = {tuple(sorted(block.protocols)) for block in blocks}
    return list(found.pop()) if len(found) == 1 else []


def _identity(view: PersonView) -> list[IdentityPart]:
    """Each identity field any shown record carries, once, in the order records list them.
    Values differing only in case are one value ("STUART", "Stuart"), written as most agencies
    write it but preferring mixed case, which reads as a name rather than a shout."""
    found: dict[str, dict[str, list[Agency]]] = {}
    spellings: dict[str, dict[str, Counter]] = {}
    labels: dict[str, str] = {}
    for record in view.records:
        for field_view in record.shown_fields:
            if not field_view.key.startswith(IDENTITY):
                continue
            labels.setdefault(field_view.key, field_view.label)
            if field_view.value in (None, ""):
                continue
            text = value_text(field_view)
            folded = " ".join(text.split()).casefold()
            spellings.setdefault(field_view.key, {}).setdefault(folded, Counter())[text] += 1
            agencies = found.setdefault(field_view.key, {}).setdefault(folded, [])
            if record.agency not in agencies:
                agencies.append(record.agency)
    parts = []
    for key, label in labels.items():
        values = found.get(key)
        if not values:
            # Not recorded on any record shared with the reader: another agency may hold it.
            parts.append(
                IdentityPart(key, label, "Not recorded on the records shared with you", [])
            )
            continue
        # The value most agencies record first; ties in the order the records came.
        ranked = [
            (_spelling(spellings[key][folded]), agencies)
            for folded, agencies in sorted(values.items(), key=lambda item: -len(item[1]))
        ]
        (value, agencies), *others = ranked
        parts.append(IdentityPart(key, label, value, agencies, others))
    return parts


def _spelling(counts: Counter) -> str:
    return max(counts, key=lambda text: (not text.isupper(), counts[text]))


def _agency_block(
    view: PersonView, involvement: Involvement, confidence: dict[int, LinkConfidence]
) -> AgencyBlock:
    records = [r for r in view.timeline() if r.dataset_id == involvement.dataset_id]
    latest = records[0] if records else None
    # The protocols behind what is shown, as the fields name them (so "under your safeguarding
    # override" is said), then any that only make the agency's involvement known.
    shown_under = [label for r in records for f in r.shown_fields for label in f.allowed_by]
    protocols = list(dict.fromkeys(shown_under))
    protocols += [
        label
        for label in involvement.allowed_by
        if not any(shown.startswith(label) for shown in protocols)
    ]
    return AgencyBlock(
        involvement=involvement,
        protocols=protocols,
        latest_record=latest,
        # Shorter than a chronology line: the agency's block is read at a glance, and the
        # chronology below has the event in full.
        latest_line=_key_line(latest, fields=LATEST_FIELDS) if latest else "",
        confidence=weakest(confidence[r] for r in involvement.record_ids if r in confidence),
        withheld=[w for w in view.withheld if w.dataset_id == involvement.dataset_id],
    )


def _line(record: RecordView, confidence: LinkConfidence | None) -> ChronologyLine:
    return ChronologyLine(
        record=record,
        date_text=day_text(record.event_date)
        or ("Date not shown in a preview" if record.masked else "Date not shared"),
        line=_key_line(record),
        identity=[(f, value_text(f)) for f in record.fields if f.shown and _is_identity(f)],
        detail=[
            (f, value_text(f) if f.shown else f.withheld_text)
            for f in record.fields
            if not (f.shown and _is_identity(f))
        ],
        not_shared=record.not_shared_labels,
        confidence=confidence,
    )


def _key_line(record: RecordView, *, fields: int = KEY_FIELDS) -> str:
    """The few fields that say what happened: the short ones before long text, never an
    identifier (those are said once, above) nor the date the line already starts with."""
    candidates = [
        f
        for f in record.shown_fields
        if not f.key.startswith(IDENTITY)
        and f.value not in (None, "")
        and not _is_event_date(f, record)
    ]
    short = [f for f in candidates if f.type in _SHORT_TYPES]
    chosen = (short or candidates)[:fields]
    if not chosen:
        if record.withheld_fields:
            return "Detail withheld"
        return "Identity only" if record.shown_fields else "No detail shared"
    text = "; ".join(_labelled(f) for f in chosen)
    return text if len(text) <= LINE_CHARACTERS else text[: LINE_CHARACTERS - 1].rstrip() + "…"


def _labelled(field_view: FieldView) -> str:
    # With its label: "high" alone could be a risk grade or a priority, "81" anything at all.
    return f"{field_view.label}: {value_text(field_view)}"


def _is_identity(field_view: FieldView) -> bool:
    return field_view.key.startswith(IDENTITY)


def _is_event_date(field_view: FieldView, record: RecordView) -> bool:
    if field_view.type != "date" or record.event_date is None:
        return False
    return str(field_view.value)[:10] == record.event_date.isoformat()
