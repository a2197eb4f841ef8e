"""Extract ingestion: receive a file, then read, validate, split and load it, all or nothing.

`receive.extract_receive` stores the upload in the private area and queues it;
`process.extract_ingest` (run by the Celery task) streams the file through the row validator
(`validation`) or, for the IG bridge's sealed extracts, through the row checks of `sealed`, into
staging (`staging`), then merges staging into the dataset's records in one transaction (`merge`).
A run that dies part way is simply started again: staging is cleared at the start of every
attempt and the merge happens once, under a lock, so every row lands exactly once however often
the task is delivered. `quarantine` is the download of the rows set aside; `housekeeping` the
periodic jobs that requeue stalled extracts and delete orphaned upload files.

Callers import from the module that does the job; this package exports nothing itself.
"""
