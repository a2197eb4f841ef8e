from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload


class SizeLimitedUploadHandler(FileUploadHandler):
    """Stops an upload as soon as it passes the size limit, before it is written in full.

    Django's DATA_UPLOAD_MAX_MEMORY_SIZE does not count file data, so without this a request
    could stream any amount to the temporary directory. The view sees `request.upload_too_large`.
    """

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.SHAREHUB_UPLOAD_MAX_BYTES:
            self.request.upload_too_large = True
            # Read and drop the rest of the body, so the view can answer with a clear message.
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None
