"""Contact details in agencies' records: how a lead worker, team, team phone and email are read.

A contact column (definitions.CONTACT_ROLES) holds the agency's own details, so that a
partner shown that the agency knows a person can tell whom to call there. They are not the
person's identifiers, so they are kept as text in the record's payload and shared only as a
protocol shares the field. Ingest reads them with these rules, and protocols.contacts reads them
again with the same rules before a link is made of them, so a record loaded before its column
became a contact never shows a malformed phone number or email address as one.
"""

import ipaddress
import re
import string

from sharehub_bridge import normalise

LEAD_WORKER = "lead_worker"
TEAM = "team"
TEAM_PHONE = "team_phone"
TEAM_EMAIL = "team_email"

# "0113 496 0000 ext 214", "0113 496 0000 x214": the extension is kept for the tel: link.
_EXTENSION = re.compile(
    r"^(?P<number>.*?)[\s,;]*(?:ext\.?|extn\.?|extension|x)\s*(?P<ext>\d{1,6})$"
)
_PHONE_CHARACTERS = re.compile(r"[\d\s+().\-/]+")
MAX_EMAIL_LENGTH = 254


def _phone_parts(text: str) -> tuple[str, str] | None:
    """The UK number's digits and its extension ("" if none), or None when it is not one."""
    text = normalise.text_clean(text)
    number, extension = text, ""
    if match := _EXTENSION.match(text.casefold()):
        number, extension = match.group("number"), match.group("ext")
    if not _PHONE_CHARACTERS.fullmatch(number):
        return None
    digits = normalise.phone_digits(number)
    return (digits, extension) if normalise.phone_is_uk(digits) else None


def contact_phone_read(text: str) -> str:
    """The phone number as written (spacing tidied) when it is a UK phone number, else ""."""
    return normalise.text_clean(text) if _phone_parts(text) is not None else ""


def contact_phone_href(text: str) -> str:
    """A tel: link to the number (RFC 3966, in international form), or "" if it is not one."""
    parts = _phone_parts(text)
    if parts is None:
        return ""
    digits, extension = parts
    return f"tel:+44{digits[1:]}" + (f";ext={extension}" if extension else "")


# Django's EmailValidator rule (django.core.validators, BSD licence), written out here because
# this package runs at agencies without Django: the bridge and the platform must agree on it.
_UNICODE_LETTERS = "\u00a1-\uffff"
_EMAIL_USER = re.compile(
    r"(^[-!#$%&'*+/=?^_`{}|~0-9A-Z]+(\.[-!#$%&'*+/=?^_`{}|~0-9A-Z]+)*\Z"
    r'|^"([\001-\010\013\014\016-\037!#-\[\]-\177]|\\[\001-\011\013\014\016-\177])*"\Z)',
    re.IGNORECASE,
)
_EMAIL_DOMAIN = re.compile(
    r"^[a-z" + _UNICODE_LETTERS + r"0-9](?:[a-z" + _UNICODE_LETTERS + r"0-9-]{0,61}"
    r"[a-z" + _UNICODE_LETTERS + r"0-9])?"
    r"(?:\.(?!-)[a-z" + _UNICODE_LETTERS + r"0-9-]{1,63}(?<!-))*"
    r"\.(?!-)(?:[a-z" + _UNICODE_LETTERS + r"-]{2,63}|xn--[a-z0-9]{1,59})(?<!-)\Z",
    re.IGNORECASE,
)
_EMAIL_LITERAL = re.compile(r"\[([A-F0-9:.]+)\]\Z", re.IGNORECASE)


def _email_is_valid(text: str) -> bool:
    if "@" not in text or len(text) > 320:
        return False
    user, domain = text.rsplit("@", 1)
    if not _EMAIL_USER.match(user):
        return False
    if domain == "localhost" or _EMAIL_DOMAIN.match(domain):
        return True
    if literal := _EMAIL_LITERAL.match(domain):
        try:
            ipaddress.ip_address(literal[1])
        except ValueError:
            return False
        return True
    return False


def contact_email_read(text: str) -> str:
    """The email address when it looks like one (Django's own rule), else ""."""
    text = text.strip()
    if not text or len(text) > MAX_EMAIL_LENGTH:
        return ""
    return text if _email_is_valid(text) else ""


def contact_value_read(role: str, text: str) -> str:
    """A contact cell as it is kept and shown, or "" when it is not what its role says."""
    if role == TEAM_PHONE:
        return contact_phone_read(text)
    if role == TEAM_EMAIL:
        return contact_email_read(text)
    return normalise.text_clean(text)


# Punctuation reads as a space when names are compared: "Smith, Alice" is "smith alice".
_PUNCTUATION_AS_SPACE = str.maketrans({c: " " for c in string.punctuation})
_NEVER_A_PHONE = frozenset({"date_of_birth", "gender", "postcode", "upn", "pnc_id"})


def _folded(text: str) -> str:
    return " ".join(text.casefold().translate(_PUNCTUATION_AS_SPACE).split())


def _alnum(text: str) -> str:
    return "".join(c for c in text.casefold() if c.isalnum())


def _email_names_the_person(email: str, identifiers: dict[str, str]) -> bool:
    """Whether an address is made of the person's own details: their surname anywhere in it
    ("zelda.quartermaine@", "mash@prewarth.org.uk"), or in its local part their date of birth,
    postcode, PNC id, street, or forename with their year of birth ("zq091011@", "nb34cd@",
    "ottoline2010@"). A team's address never is, and such an address would carry the person's
    identifiers as plain text (found by the outside reviews of issue 23)."""
    whole = _alnum(email)
    local = _alnum(email.split("@", 1)[0])
    surname = "".join(c for c in identifiers.get("surname", "").casefold() if c.isalpha())
    if len(surname) >= 3 and surname in whole:
        return True
    found = [_alnum(identifiers.get(field, "")) for field in ("postcode", "pnc_id", "nhs_number")]
    street = "".join(
        c for c in identifiers.get("address", "").split(",")[0].casefold() if c.isalpha()
    )
    found.append(street if len(street) >= 6 else "")
    dob = identifiers.get("date_of_birth", "")
    year = dob[:4]
    if len(dob) == len("YYYY-MM-DD"):
        month, day = dob[5:7], dob[8:]
        found += [day + month + year, day + month + year[2:], year + month + day]
    forename = "".join(c for c in identifiers.get("forename", "").casefold() if c.isalpha())
    if len(forename) >= 4 and forename in local and year and year in local:
        return True
    return any(len(part) >= 5 and part in local for part in found)


def contact_is_subject_identifier(role: str, value: str, identifiers: dict[str, str]) -> bool:
    """Whether a contact value is in fact one of the person's own identifiers on the same row:
    their phone number or email address (when the dataset maps one), their name, or any other.

    Such a value would put the person's identifier in the record as plain text, where ShareHub
    keeps none, so ingest drops it. `identifiers`: the row's values, as ingest read them. Run
    for every contact of every row, so each comparison is ruled out as cheaply as it can be.
    """
    held = [v for v in identifiers.values() if v]
    if not value or not held:
        return False
    if role == TEAM_PHONE:
        digits = normalise.phone_digits(value)
        # Only free-text identifiers can hold a phone number as typed: a date of birth, gender,
        # postcode, UPN or PNC id, normalised, never reads as 0 and 9 or 10 more digits.
        return any(
            normalise.phone_digits(v) == digits
            for name, v in identifiers.items()
            if v and len(v) >= 10 and name not in _NEVER_A_PHONE
        )
    if role == TEAM_EMAIL:
        email = value.casefold()
        if any("@" in v and v.strip().casefold() == email for v in held):
            return True
        return _email_names_the_person(email, identifiers)
    folded = _folded(value)
    if not folded or folded.split(" ", 1)[0] not in " ".join(held).casefold():
        return False  # its first word is in none of the identifiers: most rows stop here
    forename = identifiers.get("forename", "")
    surname = identifiers.get("surname", "")
    other = identifiers.get("other_names", "")
    names = [f"{forename} {surname}", f"{surname} {forename}", f"{forename} {other} {surname}"]
    return any(_folded(v) == folded for v in [*held, *names])
