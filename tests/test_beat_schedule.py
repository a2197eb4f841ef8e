"""Every task beat is told to run is one a worker registers: a task that moves to another module
(issue 24 moved the telling of unusual reads to oversight/) takes its schedule entry with it, or
beat would send a name no worker knows and the work would silently stop."""

from django.conf import settings

from sharehub.celery import app


def test_every_scheduled_task_is_registered():
    app.loader.import_default_modules()  # what a worker does at start: each app's tasks module
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert sorted(scheduled - set(app.tasks)) == []
