"""Sending a sealed extract to ShareHub in checksummed chunks that survive a broken connection
(bridge/PROTOCOL.md, section 3), and waiting for its result (section 4).

A push keeps a small state file in its work directory: which file it sealed, where the sealed
copy is, and the upload's id once ShareHub has opened one. Run again after a network failure, the
same push asks ShareHub which chunks it holds and sends only the others. The state holds counts,
paths and checksums only; the sealed copy holds the records (identities sealed) and is deleted as
soon as ShareHub has the whole of it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sharehub_bridge.api_client import ShareHubClient, ShareHubError

# Statuses after which nothing more happens to an extract (agencies.models.EXTRACT_FINAL_STATUSES).
EXTRACT_FINAL_STATUSES = {"loaded", "rejected", "duplicate", "failed", "withdrawn"}
# Final statuses that leave the agency's records as the file says: the push succeeded.
EXTRACT_GOOD_STATUSES = {"loaded", "duplicate"}
DEFAULT_CHUNK_ATTEMPTS = 4
DEFAULT_BACKOFF_SECONDS = 1.0
_STATE_VERSION = 1


class Bar(Protocol):
    def update(self, n: float = 1) -> bool | None: ...

    def close(self) -> None: ...


BarFactory = Callable[..., Bar]


class PushStopped(Exception):
    """The push cannot go on now; str() says why and whether running it again resumes it."""


@dataclass
class PushState:
    url: str
    dataset: int
    mode: str
    file_sha256: str
    definition_version: int
    sealed_file: str
    sealed_bytes: int
    sealed_sha256: str
    preparation: dict[str, Any]
    upload_id: str = ""
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    version: int = _STATE_VERSION


def push_state_path(work_dir: Path, *, url: str, dataset: int, mode: str, file_sha256: str) -> Path:
    """One state file per ShareHub, dataset, mode and file content: pushing the same file again
    finds it; a changed file or another dataset starts afresh."""
    key = hashlib.sha256(f"{url}|{dataset}|{mode}|{file_sha256}".encode()).hexdigest()[:24]
    return work_dir / f"push-{key}.json"


def push_state_load(path: Path) -> PushState | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != _STATE_VERSION:
            return None
        return PushState(**data)
    except (OSError, ValueError, TypeError):
        return None


def push_state_save(path: Path, state: PushState) -> None:
    # Written aside and moved into place, so a push stopped mid-write leaves the old state whole.
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(state), indent=1), encoding="utf-8")
    os.replace(temporary, path)


def push_state_discard(path: Path, state: PushState | None) -> None:
    """Forget a push: its sealed copy of the records, then its state."""
    if state is not None:
        Path(state.sealed_file).unlink(missing_ok=True)
    path.unlink(missing_ok=True)


def sealed_file_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as stream:
        while block := stream.read(1024 * 1024):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _with_retries(
    call: Callable[[], Any],
    *,
    attempts: int,
    backoff: float,
    on_retry: Callable[[ShareHubError, float], None] | None = None,
) -> Any:
    """Make the call, again after a pause that doubles each time when the network or the server
    had a passing problem; any other failure is raised at once."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except ShareHubError as error:
            if not error.retryable or attempt == attempts:
                raise
            pause = backoff * 2 ** (attempt - 1)
            if on_retry is not None:
                on_retry(error, pause)
            time.sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass
class Uploader:
    client: ShareHubClient
    state: PushState
    state_path: Path
    filename: str
    bar: BarFactory
    attempts: int = DEFAULT_CHUNK_ATTEMPTS
    backoff: float = DEFAULT_BACKOFF_SECONDS
    say: Callable[[str], None] = print

    def send(self) -> int:
        """Open (or find) the upload, send the chunks ShareHub lacks, complete it: the extract's
        id. Raises PushStopped when the push must stop; the state says how far it got."""
        for _ in range(3):
            document = self._upload_document()
            extract = document.get("extract")
            if document.get("status") == "complete" and extract is not None:
                return int(extract)
            try:
                self._chunks_send(document)
            except ShareHubError as error:
                if error.status == 409:
                    # ShareHub holds other bytes under this upload: begin a new one.
                    self.say("ShareHub holds a different copy of this upload; starting it again.")
                    self._upload_forget()
                    continue
                raise self._stopped(error) from None
            try:
                done = self._retrying(
                    lambda: self.client.post(
                        f"sealed-uploads/{self.state.upload_id}/complete/",
                        not_found=self._upload_gone(),
                    )
                )
            except ShareHubError as error:
                if error.status != 400:
                    raise self._stopped(error) from None
                if self._chunks_missing():
                    # A chunk ShareHub dropped after taking it: send what it lacks again.
                    continue
                # Every chunk is held, yet the whole does not check out: this upload is of no
                # further use; the next run sends the file in a new one.
                self._upload_forget()
                raise PushStopped(
                    f"{error} Run the same command again to send the file anew."
                ) from None
            return int(done["extract"])
        raise PushStopped(
            "ShareHub did not accept the upload as complete after it was sent again. Run the "
            "same command again; if it goes on, tell ShareHub's administrators."
        )

    def _chunks_missing(self) -> bool:
        try:
            document = self._retrying(
                lambda: self.client.get(f"sealed-uploads/{self.state.upload_id}/")
            )
        except ShareHubError as error:
            raise self._stopped(error) from None
        return len(document.get("received", [])) < int(document["chunks"])

    def _retrying(self, call: Callable[[], Any]) -> Any:
        return _with_retries(
            call,
            attempts=self.attempts,
            backoff=self.backoff,
            on_retry=lambda error, pause: self.say(f"{error} Trying again in {pause:g} s."),
        )

    def _upload_gone(self) -> str:
        return (
            "ShareHub no longer has this upload (HTTP 404): uploads not completed within 24 "
            "hours expire. Run the same command again to start a new one."
        )

    def _upload_forget(self) -> None:
        self.state.upload_id = ""
        push_state_save(self.state_path, self.state)

    def _upload_document(self) -> dict[str, Any]:
        state = self.state
        if state.upload_id:
            try:
                document = self._retrying(
                    lambda: self.client.get(f"sealed-uploads/{state.upload_id}/")
                )
            except ShareHubError as error:
                if error.status != 404:
                    raise self._stopped(error) from None
                self.say("The upload started earlier has expired on ShareHub; starting it again.")
                self._upload_forget()
            else:
                if document.get("status") in ("open", "complete"):
                    return document
                self._upload_forget()
        try:
            document = self.client.post(
                f"datasets/{state.dataset}/sealed-uploads/",
                {
                    "mode": state.mode,
                    "filename": self.filename,
                    "file_sha256": state.file_sha256,
                    "definition_version": state.definition_version,
                    "size": state.sealed_bytes,
                    "sha256": state.sealed_sha256,
                },
                not_found=dataset_not_found(state.dataset),
            )
        except ShareHubError as error:
            if error.status == 400:
                # Refused as it stands (the definition changed, the dataset was withdrawn, the
                # file is over the limit): this sealed copy is of no further use.
                push_state_discard(self.state_path, state)
                raise PushStopped(str(error)) from None
            raise self._stopped(error) from None
        state.upload_id = str(document["id"])
        push_state_save(self.state_path, state)
        return document

    def _chunks_send(self, document: dict[str, Any]) -> None:
        state = self.state
        chunk_bytes = int(document["chunk_bytes"])
        chunks = int(document["chunks"])
        if chunk_bytes <= 0 or chunks != math.ceil(state.sealed_bytes / chunk_bytes):
            raise PushStopped(
                "ShareHub's answer about the upload's chunks does not fit this file. Tell "
                "ShareHub's administrators (the bridge and ShareHub may be of different versions)."
            )
        received = {int(index) for index in document.get("received", [])}
        missing = [index for index in range(chunks) if index not in received]
        held = sum(self._chunk_length(index, chunk_bytes) for index in received if index < chunks)
        bar = self.bar(total=state.sealed_bytes, initial=held, desc="Uploading")
        try:
            with open(state.sealed_file, "rb") as sealed:
                for index in missing:
                    sealed.seek(index * chunk_bytes)
                    data = sealed.read(chunk_bytes)
                    self._retrying(functools.partial(self._chunk_put, index, data))
                    bar.update(len(data))
        finally:
            bar.close()

    def _chunk_put(self, index: int, data: bytes) -> Any:
        return self.client.put_bytes(
            f"sealed-uploads/{self.state.upload_id}/chunks/{index}/",
            data,
            headers={"X-Chunk-SHA256": hashlib.sha256(data).hexdigest()},
            not_found=self._upload_gone(),
        )

    def _chunk_length(self, index: int, chunk_bytes: int) -> int:
        return min(chunk_bytes, self.state.sealed_bytes - index * chunk_bytes)

    def _stopped(self, error: ShareHubError) -> PushStopped:
        if self.state_path.exists():
            return PushStopped(
                f"{error} The push stopped; run the same command again to send the rest."
            )
        return PushStopped(str(error))


def dataset_not_found(dataset: int) -> str:
    return (
        f"ShareHub has no dataset {dataset} for your agency (HTTP 404): check --dataset (the "
        "number in the dataset page's address) and that the token is your agency's."
    )


def extract_wait(
    client: ShareHubClient,
    extract_id: int,
    *,
    bar: BarFactory,
    poll_seconds: float = 2.0,
    wait_seconds: float = 2 * 3600,
    attempts: int = DEFAULT_CHUNK_ATTEMPTS,
    backoff: float = DEFAULT_BACKOFF_SECONDS,
) -> dict[str, Any]:
    """Ask after the extract until it is final; its document. A passing network problem is
    retried; waiting longer than `wait_seconds` raises PushStopped (the extract goes on)."""
    deadline = time.monotonic() + wait_seconds
    progress = bar(total=100, desc="Loading at ShareHub", unit="%")
    shown = 0
    try:
        while True:
            try:
                document = _with_retries(
                    lambda: client.get(
                        f"extracts/{extract_id}/",
                        not_found=f"ShareHub has no extract {extract_id} for your agency.",
                    ),
                    attempts=attempts,
                    backoff=backoff,
                )
            except ShareHubError as error:
                raise PushStopped(
                    f"{error} The extract was sent; see its result on ShareHub's dataset page."
                ) from None
            percent = int(document.get("percent") or 0)
            if percent > shown:
                progress.update(percent - shown)
                shown = percent
            if document.get("finished") or document.get("status") in EXTRACT_FINAL_STATUSES:
                return document
            if time.monotonic() > deadline:
                raise PushStopped(
                    f"Extract {extract_id} is still being processed after "
                    f"{wait_seconds / 60:g} minutes; see its result on ShareHub's dataset page."
                )
            time.sleep(poll_seconds)
    finally:
        progress.close()
