"""Loading a synthetic population into agencies' datasets, the way an agency admin would.

Each extract's definition is proposed from the file (agencies.mapping, as for a sample file on
the web) with its record id column taken from the manifest, then the file goes through the same
upload service as the web, the API and the command line.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from agencies.ingest.receive import extract_limits, extract_receive
from agencies.mapping import mapping_propose
from agencies.models import Agency, Extract, ExtractChannel, ExtractMode, ExtractStatus
from agencies.services import dataset_define
from sharehub_bridge.definitions import Definition, definition_parse
from sharehub_bridge.readers import extract_open

DATASET_NAMES = {
    "social_care": "Children's social care - referrals and assessments",
    "police": "Police - incidents",
    "health": "Health - attendances and contacts",
    "education": "Education - school census",
    "housing": "Housing - tenancies",
}
# Columns whose proposal from the data alone would be wrong: ids that are identifiers.
IDENTIFIER_OVERRIDES = {"person_id": "local_id", "tenancy_ref": "local_id"}


@dataclass(frozen=True)
class SyntheticDataset:
    agency_kind: str
    path: Path
    definition: Definition


def synthetic_definitions(out_dir: Path) -> list[SyntheticDataset]:
    """A checked definition for every extract the generator wrote to `out_dir`."""
    manifest = json.loads((out_dir / "manifest.json").read_text())
    found = []
    for entry in manifest["datasets"]:
        path = out_dir / entry["file"]
        with extract_open(path, filename=path.name, limits=extract_limits()) as reader:
            proposal = mapping_propose(reader.header, reader.rows(), sample_rows=None)
        proposal["name"] = DATASET_NAMES[entry["agency"]]
        proposal["source_id_column"] = entry["id_column"]
        for column in proposal["columns"]:
            if column["column"] == entry["id_column"]:
                column.clear()
                column.update({"column": entry["id_column"], "ignore": True})
            elif column["column"] in IDENTIFIER_OVERRIDES:
                name = column["column"]
                column.clear()
                column.update({"column": name, "identifier": IDENTIFIER_OVERRIDES[name]})
        found.append(SyntheticDataset(entry["agency"], path, definition_parse(proposal)))
    return found


def synthetic_load(
    *, out_dir: Path, agencies: dict[str, Agency], uploaded_by=None
) -> list[Extract]:
    """Define each dataset and upload its extract; an extract loaded before is not sent again."""
    extracts = []
    for item in synthetic_definitions(out_dir):
        agency = agencies.get(item.agency_kind)
        if agency is None:
            continue
        version = dataset_define(agency=agency, definition=item.definition, created_by=uploaded_by)
        if version.dataset.extracts.filter(status=ExtractStatus.LOADED).exists():
            continue
        with item.path.open("rb") as stream:
            extract = extract_receive(
                dataset=version.dataset,
                uploaded_by=uploaded_by,
                stream=stream,
                filename=item.path.name,
                mode=ExtractMode.FULL,
                channel=ExtractChannel.COMMAND,
            )
        extract.refresh_from_db()
        extracts.append(extract)
    return extracts
