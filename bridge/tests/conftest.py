"""A small fake ShareHub for the bridge's tests: the API of bridge/PROTOCOL.md, served over HTTP
from a thread, so `sharehub-bridge` is tested as an agency runs it, with no Django and no server.

It holds the ingest private key and, on completing an upload, reads the sealed extract with the
package's own reader and opens every identity with `IdentityOpener`, as the platform's ingest task
will: a test can then check what arrived and that nothing readable arrived outside "s".
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from sharehub_bridge.envelope import (
    ALGORITHM,
    IdentityOpener,
    b64encode,
    private_key_new,
    public_key_raw,
)
from sharehub_bridge.sealed_file import SealedExtractReader, SealedRow, SetAsideRow

TOKEN = "bridge-test-token-5c1e"


@dataclass
class FakeUpload:
    id: str
    dataset: int
    meta: dict[str, Any]
    chunks: int
    chunks_held: dict[int, bytes] = field(default_factory=dict)
    extract: int | None = None


@dataclass
class FakeExtract:
    id: int
    upload: FakeUpload
    sealed: bytes
    header: Any
    rows: list[SealedRow]
    set_aside: list[SetAsideRow]
    identities: dict[int, dict[str, str]]
    final: dict[str, Any]
    polls: int = 0


class FakeShareHub:
    def __init__(self, *, chunk_bytes: int = 1024):
        self.chunk_bytes = chunk_bytes
        self.private_key = private_key_new()
        self.key_version = 3
        self.threshold = 0.5
        self.datasets: dict[int, dict[str, Any]] = {}
        self.uploads: dict[str, FakeUpload] = {}
        self.extracts: dict[int, FakeExtract] = {}
        self.requests: list[tuple[str, str]] = []
        # Chunk index -> how many more times to fail it, and how ("drop": the connection breaks
        # with no answer; a number: that HTTP status).
        self.chunk_failures: dict[int, int] = {}
        self.chunk_failure: str | int = "drop"
        self.upload_refusal: dict[str, Any] | None = None
        self.polls_before_final = 1
        # Every answer a redirect there, as a misconfigured proxy or an http -> https hop gives.
        self.redirect_location = ""
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeShareHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def dataset_add(self, dataset_id: int, definition: dict[str, Any], *, number: int = 1) -> None:
        self.datasets[dataset_id] = {
            "id": dataset_id,
            "name": definition["name"],
            "created_at": "2026-01-05T09:00:00Z",
            "version": {
                "number": number,
                "source_id_column": definition["source_id_column"],
                "event_date_column": definition.get("event_date_column"),
                "columns": definition["columns"],
                "created_at": "2026-01-05T09:00:00Z",
            },
        }

    def chunk_puts(self) -> list[int]:
        return [
            int(path.rstrip("/").rsplit("/", 1)[1])
            for method, path in self.requests
            if method == "PUT"
        ]

    # --- The API -----------------------------------------------------------------------------

    def answer(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((method, path))
            if headers.get("Authorization") != f"Token {TOKEN}":
                return 401, {"detail": "Invalid token."}
            for pattern, handler in self._routes(method):
                if match := re.fullmatch(pattern, path):
                    return handler(*match.groups(), headers=headers, body=body)
            return 404, {"detail": "Not found."}

    def _routes(self, method: str):
        return {
            "GET": [
                (r"/api/v1/datasets/(\d+)/", self._dataset),
                (r"/api/v1/ingest-key/", self._key),
                (r"/api/v1/sealed-uploads/([0-9a-f-]+)/", self._upload_get),
                (r"/api/v1/extracts/(\d+)/", self._extract_get),
            ],
            "POST": [
                (r"/api/v1/datasets/(\d+)/sealed-uploads/", self._upload_create),
                (r"/api/v1/sealed-uploads/([0-9a-f-]+)/complete/", self._upload_complete),
            ],
            "PUT": [(r"/api/v1/sealed-uploads/([0-9a-f-]+)/chunks/(\d+)/", self._chunk_put)],
        }.get(method, [])

    def _dataset(self, dataset_id, **_):
        dataset = self.datasets.get(int(dataset_id))
        return (200, dataset) if dataset else (404, {"detail": "Not found."})

    def _key(self, **_):
        return 200, {
            "key_version": self.key_version,
            "public_key": b64encode(public_key_raw(self.private_key)),
            "algorithm": ALGORITHM,
        }

    def _upload_document(self, upload: FakeUpload) -> dict[str, Any]:
        return {
            "id": upload.id,
            "chunk_bytes": self.chunk_bytes,
            "chunks": upload.chunks,
            "received": sorted(upload.chunks_held),
            "status": "complete" if upload.extract else "open",
            "extract": upload.extract,
            "expires_at": "2026-12-31T00:00:00Z",
        }

    def _upload_create(self, dataset_id, *, body, **_):
        dataset = self.datasets.get(int(dataset_id))
        if dataset is None:
            return 404, {"detail": "Not found."}
        if self.upload_refusal is not None:
            return 400, self.upload_refusal
        meta = json.loads(body)
        if meta.get("mode") not in ("full", "incremental"):
            return 400, {"mode": ["Choose full or incremental."]}
        if meta.get("definition_version") != dataset["version"]["number"]:
            return 400, {"detail": "The dataset's definition changed since; run the push again."}
        upload = FakeUpload(
            id=str(uuid.uuid4()),
            dataset=int(dataset_id),
            meta=meta,
            chunks=math.ceil(meta["size"] / self.chunk_bytes),
        )
        self.uploads[upload.id] = upload
        return 201, self._upload_document(upload)

    def _upload_get(self, upload_id, **_):
        upload = self.uploads.get(upload_id)
        return (200, self._upload_document(upload)) if upload else (404, {"detail": "Not found."})

    def _chunk_put(self, upload_id, index, *, headers, body):
        upload = self.uploads.get(upload_id)
        if upload is None:
            return 404, {"detail": "Not found."}
        index = int(index)
        if self.chunk_failures.get(index, 0) > 0:
            self.chunk_failures[index] -= 1
            if self.chunk_failure == "drop":
                return None, None
            return int(self.chunk_failure), {"detail": "Service unavailable."}
        expected = min(self.chunk_bytes, upload.meta["size"] - index * self.chunk_bytes)
        if index >= upload.chunks or len(body) != expected:
            return 400, {"detail": "The chunk's length is wrong."}
        if headers.get("X-Chunk-SHA256") != hashlib.sha256(body).hexdigest():
            return 400, {"detail": "The chunk's checksum does not match."}
        if index in upload.chunks_held and upload.chunks_held[index] != body:
            return 409, {"detail": "This chunk is already held with other bytes."}
        upload.chunks_held[index] = body
        return 200, {"index": index, "received": True}

    def _upload_complete(self, upload_id, **_):
        upload = self.uploads.get(upload_id)
        if upload is None:
            return 404, {"detail": "Not found."}
        if upload.extract is None:
            if len(upload.chunks_held) != upload.chunks:
                return 400, {"detail": "Chunks are missing."}
            sealed = b"".join(upload.chunks_held[i] for i in range(upload.chunks))
            if (
                len(sealed) != upload.meta["size"]
                or hashlib.sha256(sealed).hexdigest() != upload.meta["sha256"]
            ):
                return 400, {"detail": "The file's checksum does not match."}
            upload.extract = self._ingest(upload, sealed).id
        return 202, {**self._upload_document(upload), "status": "complete"}

    def _ingest(self, upload: FakeUpload, sealed: bytes) -> FakeExtract:
        """What the platform's ingest task does with a sealed extract, in miniature."""
        reader = SealedExtractReader(io.BytesIO(sealed))
        opener = IdentityOpener(
            private_key=self.private_key, header=reader.header.envelope, dataset_id=upload.dataset
        )
        rows: list[SealedRow] = []
        set_aside: list[SetAsideRow] = []
        identities = {}
        for row in reader.rows():
            if isinstance(row, SetAsideRow):
                set_aside.append(row)
                continue
            rows.append(row)
            identities[row.number] = opener.open(
                row_number=row.number, source_id=row.source_id, sealed=row.sealed_identity
            )
        read = reader.totals.rows_read
        extract_id = len(self.extracts) + 1
        rejected = read and len(set_aside) / read > self.threshold
        final = {
            "id": extract_id,
            "dataset": upload.dataset,
            "status": "rejected" if rejected else "loaded",
            "status_label": "Rejected" if rejected else "Loaded",
            "finished": True,
            "percent": 100,
            "mode": upload.meta["mode"],
            "rows_read": read,
            "rows_loaded": 0 if rejected else len(rows),
            "rows_warned": sum(1 for row in rows if row.warnings),
            "rows_quarantined": len(set_aside),
            "records_retired": 0,
            "repairs": [],
            "contact_warnings": [],
            "message": (
                f"{len(set_aside)} of {read} rows could not be loaded, which is over the limit, "
                "so none were."
                if rejected
                else ""
            ),
            "page_url": f"/agency/extracts/{extract_id}/",
        }
        extract = FakeExtract(
            id=extract_id,
            upload=upload,
            sealed=sealed,
            header=reader.header,
            rows=rows,
            set_aside=set_aside,
            identities=identities,
            final=final,
        )
        self.extracts[extract_id] = extract
        return extract

    def _extract_get(self, extract_id, **_):
        extract = self.extracts.get(int(extract_id))
        if extract is None:
            return 404, {"detail": "Not found."}
        extract.polls += 1
        if extract.polls <= self.polls_before_final:
            return 200, {
                **extract.final,
                "status": "processing",
                "status_label": "Processing",
                "finished": False,
                "percent": 50,
            }
        return 200, extract.final


def _handler_for(hub: FakeShareHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if hub.redirect_location:
                hub.requests.append((self.command, self.path))
                self.send_response(302)
                self.send_header("Location", hub.redirect_location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status, document = hub.answer(self.command, self.path, self.headers, body)
            if status is None:
                # A network failure: the connection ends with no answer at all.
                self.close_connection = True
                return
            data = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def sharehub():
    hub = FakeShareHub(chunk_bytes=512).start()
    yield hub
    hub.stop()
