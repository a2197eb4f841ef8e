"""The population a run links: every live record's keys and current person, as arrays."""

from dataclasses import dataclass

import numpy as np

from matching.models import LinkageRecord
from matching.tokens import RECORD_DTYPE, Keys, keys_from_packed


@dataclass
class Population:
    """Every live record's keys and current person, as arrays indexed alike."""

    record_ids: np.ndarray  # int64
    person_ids: np.ndarray  # int64, 0 when not yet linked
    dataset_ids: np.ndarray  # int32
    event_days: np.ndarray  # int32 days since 1970, -1 when unknown: for current addresses
    keys: Keys
    agency_ids: np.ndarray  # int32

    def index_of(self, record_ids) -> np.ndarray:
        positions = np.searchsorted(self.record_ids, record_ids)
        positions = np.clip(positions, 0, max(len(self.record_ids) - 1, 0))
        found = self.record_ids[positions] == record_ids if len(self.record_ids) else positions
        return np.where(found, positions, -1)


def population_load() -> Population:
    rows = (
        LinkageRecord.objects.filter(record__is_retired=False)
        .order_by("record_id")
        .values_list(
            "record_id", "person_id", "dataset_id", "agency_id", "record__event_date", "keys"
        )
    )
    count = rows.count()
    record_ids = np.zeros(count, dtype=np.int64)
    person_ids = np.zeros(count, dtype=np.int64)
    dataset_ids = np.zeros(count, dtype=np.int32)
    agency_ids = np.zeros(count, dtype=np.int32)
    event_days = np.full(count, -1, dtype=np.int32)
    raw = bytearray(count * RECORD_DTYPE.itemsize)
    size = RECORD_DTYPE.itemsize
    epoch_ordinal = 719163  # date(1970, 1, 1).toordinal()
    index = 0
    for record_id, person_id, dataset_id, agency_id, event_date, blob in rows.iterator(
        chunk_size=20_000
    ):
        if index >= count:
            break  # rows added since the count belong to the next run
        record_ids[index] = record_id
        person_ids[index] = person_id or 0
        dataset_ids[index] = dataset_id
        agency_ids[index] = agency_id
        if event_date is not None:
            event_days[index] = event_date.toordinal() - epoch_ordinal
        raw[index * size : (index + 1) * size] = blob
        index += 1
    keys = keys_from_packed(memoryview(raw)[: index * size])
    del raw
    return Population(
        record_ids[:index],
        person_ids[:index],
        dataset_ids[:index],
        event_days[:index],
        keys,
        agency_ids[:index],
    )
