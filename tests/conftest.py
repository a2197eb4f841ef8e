import base64
import os

import pytest

from agencies.models import Role
from sharehub.celery import app as celery_app
from tests.factories import AgencyFactory, MembershipFactory, UserFactory
from tests.workers import test_broker_configure

test_broker_configure()

# One master key for the test process and every worker it starts (they inherit the
# environment), whatever VAR_DIR a test points the settings at. A test-only key, never used
# anywhere else.
os.environ["SHAREHUB_MASTER_KEYS"] = "1:" + base64.urlsafe_b64encode(b"t" * 32).decode()
os.environ["SHAREHUB_LINKAGE_KEY"] = "1:" + base64.urlsafe_b64encode(b"l" * 32).decode()
os.environ["SHAREHUB_AUDIT_KEY"] = "1:" + base64.urlsafe_b64encode(b"u" * 32).decode()
os.environ["SHAREHUB_INGEST_KEYS"] = "1:" + base64.b64encode(b"i" * 32).decode()


@pytest.fixture(autouse=True)
def tasks_run_in_process():
    """Outside the worker tests, tasks run in the test process whatever REDIS_URL says.

    The worker tests (tests/test_worker.py and later ones) turn this off to go through Redis.
    """
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def audit_anchors_apart(settings, tmp_path):
    """Each test's audit anchors in a file of its own: the database starts empty each time, and
    anchors left by another test would count entries it never had (a 'truncation')."""
    settings.SHAREHUB_AUDIT_ANCHOR_PATH = tmp_path / "audit-anchors.jsonl"


@pytest.fixture
def agency(db):
    return AgencyFactory(code="CSC", name="Test Children's Services")


@pytest.fixture
def other_agency(db):
    return AgencyFactory(code="POL", name="Test Police", kind="police")


@pytest.fixture
def member(db, agency):
    """Make a user acting in `role` (in `agency` unless the role is platform admin)."""

    def make(role: str, *, in_agency=None, **user_fields):
        user = UserFactory(**user_fields)
        target = None if role == Role.PLATFORM_ADMIN else (in_agency or agency)
        MembershipFactory(user=user, agency=target, role=role)
        return user

    return make


@pytest.fixture(autouse=True)
def rate_limits_reset(settings, request):
    """Rate-limit counters live in the cache, which outlives a test; each test gets a cache of
    its own, starting at zero. A fresh local-memory cache rather than cache.clear(), which on
    Redis would flush the database the Celery worker tests' queues are in."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"test-{request.node.nodeid}",
        }
    }


@pytest.fixture(autouse=True)
def private_area(settings, tmp_path_factory):
    """Each test gets its own private upload area, so no test sees another's files."""
    private = tmp_path_factory.mktemp("private")
    settings.MEDIA_ROOT = private
    settings.FILE_UPLOAD_TEMP_DIR = str(private / "incoming")
    (private / "incoming").mkdir()
    return private


@pytest.fixture(autouse=True)
def data_keys_forgotten():
    """Unwrapped data keys are cached per process, keyed by agency and version. Key rows are
    never deleted in a running ShareHub, but test databases are emptied between tests and ids
    come round again, so the cache is emptied too."""
    from core import keys

    keys._data_key_cache.clear()
    yield
    keys._data_key_cache.clear()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2's deliberate slowness is the point in production and a minute lost per run here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def force_login_gives_a_verified_session(monkeypatch):
    """Two-factor enforcement stays on in the suite: a session made by client.force_login
    also gets a confirmed TOTP device and django-otp's verified-device key, as if the user had
    entered their code. tests/test_two_factor.py uses `password_only_login` for sessions
    without one."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    original = Client.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="Test app", confirmed=True)
        session = self.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()

    monkeypatch.setattr(Client, "force_login", force_login)
    monkeypatch.setattr(Client, "password_only_login", original, raising=False)
