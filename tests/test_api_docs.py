"""The API docs page (/api/docs/): who may read it, the policy it is served under, and the
Swagger UI files it loads, which must reach the production manifest."""

import re

import pytest
from django.core.management import call_command
from django.urls import resolve, reverse

from agencies.access import ALL_ROLES
from agencies.models import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DOCS = "/api/docs/"


def test_docs_have_the_audience_of_the_schema_they_show():
    assert reverse("api_docs") == DOCS
    assert resolve(DOCS).func.allowed_roles == resolve("/api/schema/").func.api_roles
    assert resolve(DOCS).func.allowed_roles == ALL_ROLES


@pytest.mark.parametrize("role", sorted(ALL_ROLES))
def test_every_role_reads_the_docs(client, member, role):
    client.force_login(member(role))
    response = client.get(DOCS)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-schema-url="/api/schema/?format=json"' in html
    # Without JavaScript the page still says where the whole description is.
    assert 'href="/api/schema/"' in html and 'href="/api/schema/?format=json"' in html
    assert "needs JavaScript" in html


def test_visitors_are_sent_to_sign_in(client):
    response = client.get(DOCS)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_someone_without_a_role_is_refused_with_a_page_not_json(client):
    client.force_login(UserFactory())
    response = client.get(DOCS)
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    # The API's own refusals stay JSON.
    assert client.get("/api/v1/datasets/")["Content-Type"] == "application/json"


def _directives(policy: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())


def test_docs_are_served_under_the_sites_policy_unchanged(client, member):
    client.force_login(member(Role.AGENCY_ADMIN))
    docs = client.get(DOCS)["Content-Security-Policy"]
    elsewhere = client.get(reverse("agencies:api_tokens"))["Content-Security-Policy"]
    assert docs == elsewhere
    directives = _directives(docs)
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert "unsafe-inline" not in docs and "unsafe-eval" not in docs and "blob:" not in docs


def test_page_has_no_inline_script_or_style(client, member):
    client.force_login(member(Role.PRACTITIONER))
    html = client.get(DOCS).content.decode()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert " style=" not in html and "<style" not in html
    assert "/static/swagger-ui/swagger-ui-bundle.js" in html
    assert "/static/sharehub/api-docs.mjs" in html


def test_agency_admins_are_pointed_to_their_tokens_and_back(client, member):
    client.force_login(member(Role.AGENCY_ADMIN))
    tokens = reverse("agencies:api_tokens")
    assert f'href="{tokens}"' in client.get(DOCS).content.decode()
    assert f'href="{DOCS}"' in client.get(tokens).content.decode()


def test_others_are_told_who_makes_tokens(client, member):
    client.force_login(member(Role.PRACTITIONER))
    html = client.get(DOCS).content.decode()
    assert reverse("agencies:api_tokens") not in html
    assert "Your agency's admin makes and revokes them." in html


def test_swagger_ui_files_reach_the_manifest(client, member, settings, tmp_path):
    """collectstatic with the manifest storage that production uses (WhiteNoise's compressing
    subclass adds gzip and Brotli copies, and 15 seconds, to the same post-processing): every file
    the page names is collected under its hashed name, and anything the stylesheet refers to
    (its source map) is there too, or post-processing fails."""
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    call_command("collectstatic", "--no-input", verbosity=0)
    client.force_login(member(Role.AGENCY_ADMIN))
    html = client.get(DOCS).content.decode()
    named = re.findall(r'(?:src|href)="/static/([^"]+)"', html)
    page_files = [
        ("swagger-ui/swagger-ui-bundle", "js"),
        ("swagger-ui/swagger-ui", "css"),
        ("sharehub/api-docs", "mjs"),
        ("sharehub/api-docs", "css"),
    ]
    for stem, extension in page_files:
        hashed = [n for n in named if re.fullmatch(rf"{stem}\.[0-9a-f]{{12}}\.{extension}", n)]
        assert hashed, f"{stem}.{extension} not served from the manifest: {named}"
        assert (tmp_path / hashed[0]).is_file()
