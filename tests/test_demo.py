from django.core.management import call_command

from accounts.models import User
from agencies.models import Agency, Extract, ExtractStatus, Membership, Role, SourceRecord
from consent.models import ConsentRequest, RequestStatus, ReviewOutcome, SafeguardingOverride
from synthetic.demo import DEMO_LOGINS, DEMO_PASSWORD


def test_demo_loads_a_login_for_every_role_and_is_idempotent(
    db, capsys, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.VAR_DIR = tmp_path
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", "--people", "150")
    first = (Agency.objects.count(), User.objects.count(), Membership.objects.count())
    loaded = Extract.objects.filter(status=ExtractStatus.LOADED).count()
    records = SourceRecord.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", "--people", "150")
    assert (Agency.objects.count(), User.objects.count(), Membership.objects.count()) == first
    assert Extract.objects.count() == loaded == 5
    assert SourceRecord.objects.count() == records > 300
    # Consent work waits for the demo's health practitioner and IG officers, made once.
    assert ConsentRequest.objects.filter(status=RequestStatus.OPEN).count() == 1
    assert SafeguardingOverride.objects.filter(review=ReviewOutcome.AWAITING).count() == 1

    assert first == (5, len(DEMO_LOGINS), len(DEMO_LOGINS))
    assert set(Membership.objects.values_list("role", flat=True)) == set(Role.values)
    printed = capsys.readouterr().out
    for login in DEMO_LOGINS:
        assert login.email in printed
        assert User.objects.get(email=login.email).check_password(DEMO_PASSWORD)


def test_demo_restores_a_changed_demo_password(db):
    call_command("load_demo", "--people", "0")
    user = User.objects.get(email=DEMO_LOGINS[0].email)
    user.set_password("something-else-entirely")
    user.save()
    call_command("load_demo", "--people", "0")
    user.refresh_from_db()
    assert user.check_password(DEMO_PASSWORD)
