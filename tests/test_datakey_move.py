"""DataKey's move from sharehub/ to core/ keeps every key, and its content type and permissions.

The migrations change only Django's picture of the models (the table stays, under its name), and
a data migration carries the content type over, so a deployment that had data keys before the
move opens with the same keys after it, and back again.
"""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from core import keys
from core.keys import AgencySealer, agency_open
from core.models import DataKey
from tests.factories import AgencyFactory

SHAREHUB_BEFORE = ("sharehub", "0002_datakey_retired_at")
BEFORE = [("core", None), SHAREHUB_BEFORE]


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    ContentType.objects.clear_cache()
    return executor


def _latest():
    return _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_keys_made_before_the_move_open_after_it_and_after_going_back():
    agency = AgencyFactory(code="CSC")
    blob = AgencySealer(agency.pk).seal(b"identity", context="source_record:1:R1")
    try:
        old = _migrate(BEFORE).loader.project_state(SHAREHUB_BEFORE).apps
        OldDataKey = old.get_model("sharehub", "DataKey")
        assert OldDataKey.objects.get(agency_id=agency.pk).version == 1
        # Going back gave the content type, and the permissions on it, back to sharehub: as a
        # deployment of the release before has them.
        old_type = ContentType.objects.get(model="datakey")
        assert old_type.app_label == "sharehub"
        permission = Permission.objects.get(content_type=old_type, codename="view_datakey")

        _latest()
        moved = ContentType.objects.get_for_model(DataKey)
        assert (moved.pk, moved.app_label) == (old_type.pk, "core")
        assert Permission.objects.get(pk=permission.pk).content_type_id == moved.pk
        assert not ContentType.objects.filter(app_label="sharehub", model="datakey").exists()
        assert DataKey.objects.get(agency=agency).version == 1
        keys._data_key_cache.clear()  # the key is unwrapped afresh from the row, through core
        assert agency_open(agency_id=agency.pk, blob=blob, context="source_record:1:R1") == (
            b"identity"
        )

        _migrate(BEFORE)
        back = ContentType.objects.get(pk=old_type.pk)
        assert back.app_label == "sharehub"
        assert OldDataKey.objects.filter(agency_id=agency.pk).count() == 1
    finally:
        _latest()
