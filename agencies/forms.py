from typing import cast

from django import forms

from agencies.ingest.receive import FULL_REFRESH_ONLY
from agencies.models import ExtractMode
from sharehub_bridge.definitions import (
    CONTACT_ROLES,
    IDENTIFIER_FIELDS,
    MAX_COLUMNS,
    SENSITIVE_TYPES,
)

ROLE_CHOICES = [
    ("ignore", "Not needed - ignore this column"),
    *((f"identifier:{k}", f"Identifier: {v}") for k, v in IDENTIFIER_FIELDS.items()),
    *((f"type:{k}", f"Sensitive field: {v}") for k, v in SENSITIVE_TYPES.items()),
]

_CONTACT_CHOICE_TEXT = {
    "lead_worker": "Yes, the lead worker's name",
    "team": "Yes, the team",
    "team_phone": "Yes, the team phone number",
    "team_email": "Yes, the team email address",
}
CONTACT_CHOICES = [
    ("", "No"),
    *((role, _CONTACT_CHOICE_TEXT.get(role, label)) for role, label in CONTACT_ROLES.items()),
]


NO_RECORD_ID_CHOICE = "No record id column"
# What a dataset without record ids means for the agency, said where it is chosen and shown.
NO_RECORD_ID_CONSEQUENCE = (
    'If the file has none, choose "No record id column": the dataset then takes full '
    "refreshes only, and records are matched from one refresh to the next by the person's "
    "details. Corrected details make a new record and retire the old one, and two rows for the "
    "same person in one file are told apart only by their order."
)


class UploadLimitForm(forms.Form):
    """A form with a file field that shows the size-limit refusal of agencies.uploads as that
    field's error."""

    file_field = "file"

    def refuse_as_too_large(self, message: str) -> None:
        self.full_clean()
        self.errors[self.file_field] = self.error_class([message])


class SampleFileForm(UploadLimitForm):
    file_field = "sample"
    sample = forms.FileField(
        allow_empty_file=True,
        label="Sample file",
        help_text="A CSV, XLSX or JSON Lines file with the header row. ShareHub reads its column "
        "names and the shape of the first rows to propose a mapping; the file is not kept.",
    )


EXTRACT_MODES = [
    (ExtractMode.FULL, "Everything: a full refresh. Records missing from it are retired."),
    (ExtractMode.INCREMENTAL, "Changes only: new and updated records are added."),
]


class ExtractUploadForm(UploadLimitForm):
    """An extract to upload; a dataset with no record id column takes full refreshes only."""

    # Empty files pass the form so that ingestion answers them like any other bad file.
    file = forms.FileField(
        allow_empty_file=True,
        label="Extract file",
        help_text="CSV (UTF-8 or Windows-1252; commas, semicolons or tabs), XLSX, or JSON Lines.",
        error_messages={"required": "Choose the extract file to upload."},
    )
    mode = forms.ChoiceField(
        label="What the file holds",
        choices=EXTRACT_MODES,
        widget=forms.RadioSelect,
        initial=ExtractMode.INCREMENTAL,
    )

    def __init__(self, *args, has_record_id: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not has_record_id:
            mode = cast(forms.ChoiceField, self.fields["mode"])
            mode.choices = [choice for choice in EXTRACT_MODES if choice[0] == ExtractMode.FULL]
            mode.initial = ExtractMode.FULL
            mode.help_text = (
                "Only a full refresh: this dataset has no record id column, so records are "
                "matched from one refresh to the next by the person's details, and a file of "
                "changes only could not say which record a row replaces."
            )
            mode.error_messages["invalid_choice"] = FULL_REFRESH_ONLY


class MappingForm(forms.Form):
    """The column mapping of a dataset: one role per column, built for the columns of a file."""

    name = forms.CharField(
        label="Dataset name",
        max_length=200,
        help_text='For example, "Police - domestic abuse incidents".',
        error_messages={"required": "Enter a name for the dataset."},
    )
    source_id_column = forms.ChoiceField(
        label="Record id column",
        required=False,
        help_text="The column holding each record's own id in your system. It must be unique in "
        "an extract. " + NO_RECORD_ID_CONSEQUENCE,
    )
    event_date_column = forms.ChoiceField(
        label="Event date column (optional)",
        help_text="The date each record is about, such as the incident or referral date.",
        required=False,
    )

    def __init__(self, *args, columns: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.column_names = columns[:MAX_COLUMNS]
        self.too_many_columns = len(columns) > MAX_COLUMNS
        cast(forms.ChoiceField, self.fields["source_id_column"]).choices = [
            ("", NO_RECORD_ID_CHOICE)
        ] + [(c, c) for c in self.column_names]
        cast(forms.ChoiceField, self.fields["event_date_column"]).choices = [("", "None")] + [
            (c, c) for c in self.column_names
        ]
        for index, column in enumerate(self.column_names):
            self.fields[f"role_{index}"] = forms.ChoiceField(
                label=f"What is {column}?", choices=ROLE_CHOICES
            )
            self.fields[f"label_{index}"] = forms.CharField(
                label=f"Label for {column}", required=False, max_length=200
            )
            self.fields[f"values_{index}"] = forms.CharField(
                label=f"Allowed values for {column}",
                required=False,
                # Tall enough for every value read from the sample, and one more line.
                widget=forms.Textarea(attrs={"rows": max(3, self._values_lines(index) + 1)}),
                help_text="One value per line. A row with any other value is set aside.",
            )
            self.fields[f"required_{index}"] = forms.BooleanField(
                label="Every row must have it", required=False
            )
            self.fields[f"contact_{index}"] = forms.ChoiceField(
                label=f"Is {column} a contact detail?",
                choices=CONTACT_CHOICES,
                required=False,
            )

    def _values_lines(self, index: int) -> int:
        key = f"values_{index}"
        text = self.data.get(key) if self.is_bound else self.initial.get(key)
        return len(str(text or "").splitlines())

    def is_category(self, index: int) -> bool:
        """Whether the column is mapped as a category, as submitted or as proposed: only then
        are its allowed values asked for."""
        key = f"role_{index}"
        role = self.data.get(key) if self.is_bound else self.initial.get(key)
        return role == "type:category"

    @staticmethod
    def initial_from_definition(data: dict) -> dict:
        initial = {
            "name": data.get("name", ""),
            "source_id_column": data.get("source_id_column", ""),
            "event_date_column": data.get("event_date_column") or "",
        }
        for index, column in enumerate(data.get("columns", [])):
            if column.get("identifier"):
                role = f"identifier:{column['identifier']}"
            elif column.get("type"):
                role = f"type:{column['type']}"
            else:
                role = "ignore"
            initial[f"role_{index}"] = role
            initial[f"label_{index}"] = column.get("label", "")
            initial[f"values_{index}"] = "\n".join(column.get("values", []))
            initial[f"required_{index}"] = column.get("required", False)
            initial[f"contact_{index}"] = column.get("contact", "")
        return initial

    def rows(self):
        """Per column: its name and bound fields, for the template."""
        for index, column in enumerate(self.column_names):
            yield {
                "column": column,
                "role": self[f"role_{index}"],
                "label": self[f"label_{index}"],
                "values": self[f"values_{index}"],
                "is_category": self.is_category(index),
                "required": self[f"required_{index}"],
                "contact": self[f"contact_{index}"],
            }

    def clean(self):
        if self.too_many_columns:
            raise forms.ValidationError(
                f"The file has more than {MAX_COLUMNS} columns. Leave out the columns the "
                "partnership does not need and use the shorter file."
            )
        return super().clean()

    def definition_data(self) -> dict:
        """The definition in the bridge package's JSON format, for definition_parse to judge."""
        data = self.cleaned_data
        columns = []
        for index, column in enumerate(self.column_names):
            role = data[f"role_{index}"]
            entry: dict = {"column": column}
            if role == "ignore":
                entry["ignore"] = True
            else:
                kind, _, value = role.partition(":")
                entry["identifier" if kind == "identifier" else "type"] = value
                if kind == "type":
                    entry["label"] = data[f"label_{index}"] or column
                    if value == "category":
                        entry["values"] = [
                            v.strip() for v in data[f"values_{index}"].splitlines() if v.strip()
                        ]
                if data[f"required_{index}"]:
                    entry["required"] = True
            if data[f"contact_{index}"]:
                # Given whatever the role, so that the definition's rules say what is wrong
                # with a contact that is also an identifier or ignored.
                entry["contact"] = data[f"contact_{index}"]
            columns.append(entry)
        return {
            "name": data["name"],
            "source_id_column": data["source_id_column"],
            "event_date_column": data["event_date_column"],
            "columns": columns,
        }


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label="What will use the token?",
        max_length=100,
        help_text="For example, 'Nightly export from the case management system'.",
        error_messages={"required": "Say what will use the token."},
    )
    days = forms.IntegerField(
        label="Days until it expires",
        min_value=1,
        max_value=365,
        initial=90,
        error_messages={
            "min_value": "A token must last at least 1 day.",
            "max_value": "A token can last at most 365 days; make a new one when it ends.",
            "invalid": "Enter a whole number of days, such as 90.",
        },
    )
