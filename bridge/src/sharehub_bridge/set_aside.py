"""The rows kept back at the agency: a CSV the admin opens, fixes and sends again.

Rows with problems never leave the agency's machine. `sharehub-bridge` writes them here, with the
row number and the reasons first and then the file's own columns as they were read, so the admin
can find each one in their system, fix it and push the corrected rows as an incremental extract.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import IO, Any

from sharehub_bridge.definitions import csv_cell_safe
from sharehub_bridge.validation import SET_ASIDE_COLUMNS


class SetAsideFile:
    """Writes the rows with problems to `path`, created only when the first such row comes.

    UTF-8 with a byte order mark, so Excel on Windows shows accented names as they are; ShareHub's
    readers take it back as it is. A file that was itself a set-aside file has its old
    row_in_file and reasons columns replaced by the new ones rather than repeated.
    """

    def __init__(self, path: Path, header: list[str]):
        self.path = path
        self.rows = 0
        reserved = {name.casefold() for name in SET_ASIDE_COLUMNS}
        self._columns = [name for name in header if name.casefold() not in reserved]
        self._stream: IO[str] | None = None
        self._writer: Any = None

    def write(self, row_number: int, reasons: list[str], values: dict[str, str]) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # The rows hold personal data: readable by this user only, as the sealed work file
            # is (on Windows the mode is ignored and the folder's permissions apply).
            descriptor = self._create()
            self._stream = open(descriptor, "w", encoding="utf-8-sig", newline="")
            self._writer = csv.writer(self._stream)
            self._writer.writerow([csv_cell_safe(c) for c in [*SET_ASIDE_COLUMNS, *self._columns]])
        self._writer.writerow(
            [
                str(row_number),
                csv_cell_safe(" ".join(reasons)),
                *(csv_cell_safe(values.get(column, "")) for column in self._columns),
            ]
        )
        self.rows += 1

    def _create(self) -> int:
        """A new file, never one already there: a file or link planted under the name would
        otherwise receive the rows (found by the outside review of issue 23). A name taken gets
        -2, -3 ... before .csv, and `path` says which was made."""
        flags = (
            os.O_WRONLY
            | os.O_CREAT
            | os.O_EXCL
            | getattr(os, "O_NOFOLLOW", 0)
            | getattr(os, "O_BINARY", 0)  # Windows: the csv module writes the line ends itself
        )
        stem, suffix = self.path.stem, self.path.suffix
        for attempt in range(1, 100):
            candidate = (
                self.path.with_name(f"{stem}-{attempt}{suffix}") if attempt > 1 else self.path
            )
            try:
                descriptor = os.open(candidate, flags, 0o600)
            except FileExistsError:
                continue
            self.path = candidate
            return descriptor
        raise OSError(f"Could not make a new file next to {self.path}: 99 names are taken.")

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def __enter__(self) -> SetAsideFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
