from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.template.defaultfilters import filesizeformat

# A request a little over the limit still fits the form fields and multipart framing around it.
MULTIPART_ALLOWANCE = 1024 * 1024


def upload_size_refusal(size: int) -> str:
    """Why a file of `size` bytes is refused for its size, or "" when it is within the limit.

    The one check of SHAREHUB_UPLOAD_MAX_BYTES and its one wording, for every channel: the web
    form and the API while the body streams in (SizeLimitedUploadHandler), the store behind them
    and the command line (agencies.ingest.extract_receive), and a bridge's chunked sealed upload
    from the size it declares (agencies.sealed_uploads).
    """
    limit = settings.SHAREHUB_UPLOAD_MAX_BYTES
    if size <= limit:
        return ""
    return (
        f"The file is larger than the {filesizeformat(limit)} limit. "
        "Split it into smaller extracts, or load it in incremental parts."
    )


class SizeLimitedUploadHandler(FileUploadHandler):
    """Stops an upload as soon as the request's files pass the size limit.

    Django's DATA_UPLOAD_MAX_MEMORY_SIZE does not count file data, so without this a request
    could stream any amount to the temporary directory. Bytes are counted per request, not per
    file, and a request whose declared length is already over the limit is refused before any
    of it is written. The view sees why in `request.upload_refusal`.
    """

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.received = 0
        if content_length:
            self._refuse(upload_size_refusal(content_length - MULTIPART_ALLOWANCE))
        return None

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        refusal = getattr(self.request, "upload_refusal", "") or upload_size_refusal(self.received)
        if refusal:
            self._refuse(refusal)
            # Read and drop the rest of the body, so the view can answer with a clear message.
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None

    def _refuse(self, refusal: str) -> None:
        # An attribute of our own on the request, which HttpRequest does not declare; the views
        # read it back with getattr.
        request: Any = self.request
        request.upload_refusal = refusal
