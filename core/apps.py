from django.apps import AppConfig


class CoreConfig(AppConfig):
    # The base every app may import (keys, locks, batches, the API base view, purpose parsing):
    # it imports no app of the project in turn (tests/test_core_imports.py).
    name = "core"
    verbose_name = "ShareHub core"
