"""The Celery app, configured from Django settings (CELERY_* names): one source of truth."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sharehub.settings")

app = Celery("sharehub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
