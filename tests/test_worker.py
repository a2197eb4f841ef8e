"""A task goes through Redis to a real worker process and its result is seen by the web side."""

import re
import time
from pathlib import Path

import pytest
from django.db import transaction
from django.urls import reverse

from accounts.forms import PasswordResetRequestForm
from agencies.models import Role
from tests.workers import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_password_reset_email_is_sent_by_a_real_worker(client, member, tmp_path):
    user = member(Role.PRACTITIONER)
    outbox = tmp_path / "mail"
    outbox.mkdir()
    worker_env = {"EMAIL_URL": "filemail://", "EMAIL_FILE_PATH": str(outbox)}

    with celery_worker(extra_env=worker_env) as worker:
        response = client.post(reverse("accounts:password_reset"), {"email": user.email})
        assert response.status_code == 302
        sent = wait_for(lambda: list(outbox.glob("*.log")))

    body = Path(sent[0]).read_text()
    assert f"To: {user.email}" in body
    # The worker, not the web request, made the token, and it is a working one.
    link = re.search(r"http://testserver(/accounts/password-reset/\S+/)", body).group(1)
    assert b"Choose a new password" in client.get(link, follow=True).content
    # The task carried the user's id across Redis, not their address.
    assert user.email not in worker.log_path.read_text()


def test_nothing_is_sent_when_the_transaction_rolls_back(member, tmp_path):
    user = member(Role.PRACTITIONER)
    outbox = tmp_path / "mail"
    outbox.mkdir()
    worker_env = {"EMAIL_URL": "filemail://", "EMAIL_FILE_PATH": str(outbox)}

    with celery_worker(extra_env=worker_env) as worker:
        try:
            with transaction.atomic():
                form = PasswordResetRequestForm({"email": user.email})
                assert form.is_valid()
                form.save(domain_override="testserver")
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        # Give a wrongly sent task time to be picked up, then check the worker saw none.
        time.sleep(2)
        assert "Task accounts.tasks.send_password_reset_email" not in worker.log_path.read_text()
    assert list(outbox.iterdir()) == []
