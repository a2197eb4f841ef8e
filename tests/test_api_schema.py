"""The API's OpenAPI schema (drf-spectacular) and schemathesis against it.

The schema must generate with no warning, and every operation is called with cases generated
from it (valid and invalid), through the WSGI application, as an agency holding real data:
no answer may be a server error, and every answer must match what the schema says.
"""

import pytest
import schemathesis
from django.core import signals
from django.core.management import call_command
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from agencies.models import Role
from agencies.tokens import api_token_create
from tests.ingest_helpers import csv_bytes, good_row, police_dataset, upload
from tests.protocol_helpers import give, protocol_in_force

pytestmark = pytest.mark.django_db


def test_schema_generates_with_no_warning(tmp_path):
    target = tmp_path / "schema.yml"
    # --fail-on-warn turns every warning (an endpoint it cannot describe, a name that collides)
    # into a failure; --validate checks the result against the OpenAPI specification.
    call_command("spectacular", "--file", str(target), "--validate", "--fail-on-warn")
    text = target.read_text()
    assert "/api/v1/persons/{reference}/summary" in text
    assert "agencyToken" in text


def test_schema_is_served_to_the_signed_in_and_token_holders_only(client, member):
    assert client.get("/api/schema/").status_code in (401, 403)
    client.force_login(member(Role.PRACTITIONER))
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "ShareHub API"


@pytest.fixture
def connections_kept():
    """The WSGI handler closes the database connection after each request, which would close
    the test's transaction; Django's own test client disconnects the same signals."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(agency, member, connections_kept):
    """The schema as the agency's token sees it, with data behind it so that answers are real."""
    admin = member(Role.AGENCY_ADMIN)
    dataset = police_dataset(agency)
    upload(dataset, csv_bytes([good_row("S1"), good_row("S2", forename="Alicia")]))
    version = protocol_in_force(
        author=member(Role.IG_OFFICER), parties=[agency], rules=[{"dataset": dataset}]
    )
    give(version, admin)
    _, token = api_token_create(agency=agency, name="schemathesis", created_by=admin)
    headers = {"Authorization": f"Token {token}"}
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json", get_wsgi_application(), headers=headers
    )
    schema.config.headers = headers  # sent with every generated case
    return schema


# Requests whose validity depends on more than each field's own shape (a dataset definition's
# source id column must be one of its columns; a protocol's rules must name the parties'
# datasets): a body can match the schema and still be refused with a 400 saying what to fix.
# For these, schemathesis' "valid data is accepted" check cannot hold; every other check does.
CROSS_FIELD_RULES = {
    "POST /api/v1/datasets/",
    # A sealed upload must name the dataset's current definition version.
    "POST /api/v1/datasets/{pk}/sealed-uploads/",
    "POST /api/v1/protocols/",
    "PUT /api/v1/protocols/{reference}/versions/{number}",
}


def _calls(operation, mode, *, headers: dict, tried: dict):
    """A hypothesis test calling `operation` with cases of `mode` and checking each answer."""
    excluded = (
        [schemathesis.checks.positive_data_acceptance]
        if operation.label in CROSS_FIELD_RULES
        else []
    )

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def calls(case):
        tried["cases"] += 1
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    return calls


def test_api_answers_as_its_schema_says(api_schema):
    """Each operation with valid and with invalid cases (schemathesis' positive and negative
    generation), every check schemathesis has: no 5xx, and every answer as the schema says."""
    failures: list[str] = []
    tried = {"operations": 0, "cases": 0}
    for result in api_schema.get_all_operations():
        operation = result.ok()
        tried["operations"] += 1
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            calls = _calls(operation, mode, headers=api_schema.config.headers, tried=tried)
            try:
                calls()
            except Unsatisfiable:
                # Nothing in the operation can be made invalid (no parameters, no body).
                assert mode == schemathesis.GenerationMode.NEGATIVE
            except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - collect them all
                failures.append(f"{operation.label} ({mode.value}): {error}"[:3000])
    print(f"\nschemathesis: {tried['operations']} operations, {tried['cases']} cases")
    assert tried["operations"] >= 30
    assert failures == [], "\n\n".join(failures)
