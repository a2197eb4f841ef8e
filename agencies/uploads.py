from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload


class SizeLimitedUploadHandler(FileUploadHandler):
    """Stops an upload as soon as the request's files pass the size limit.

    Django's DATA_UPLOAD_MAX_MEMORY_SIZE does not count file data, so without this a request
    could stream any amount to the temporary directory. Bytes are counted per request, not per
    file, and a request whose declared length is already over the limit is refused before any
    of it is written. The view sees `request.upload_too_large`.
    """

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.received = 0
        # A little over the limit still fits the form fields and multipart framing around it.
        if content_length and content_length > settings.SHAREHUB_UPLOAD_MAX_BYTES + 1024 * 1024:
            self.request.upload_too_large = True
        return None

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if getattr(self.request, "upload_too_large", False) or (
            self.received > settings.SHAREHUB_UPLOAD_MAX_BYTES
        ):
            self.request.upload_too_large = True
            # Read and drop the rest of the body, so the view can answer with a clear message.
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None
