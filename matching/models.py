"""What linkage stores: keyed pseudonyms of each record, the persons and households they form, the
model that scored them, and the review queue. Nothing here can be read back as a name or number.
"""

import secrets

from django.conf import settings
from django.db import models


def _reference() -> str:
    # Ten characters from a 31-letter alphabet without look-alikes: ~49 bits, so references can
    # be quoted over the phone and guessing one is hopeless; they appear in URLs and exports of
    # ShareHub's own, never an identifier.
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    return "".join(secrets.choice(alphabet) for _ in range(10))


class LinkageRun(models.Model):
    """One pass of linkage: after an extract (incremental) or over everything (full)."""

    class Kind(models.TextChoices):
        INCREMENTAL = "incremental", "After an extract"
        FULL = "full", "Everything"
        DECISION = "decision", "After a review decision"
        ERASURE = "erasure", "After records were erased"
        RELINK = "relink", "Model estimated again and everything re-linked"

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting to start"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        # Its worker died part way (matching.housekeeping): the run will not finish, and its
        # work was queued again, as a run of its own.
        ABANDONED = "abandoned", "Abandoned"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    extract = models.ForeignKey(
        "agencies.Extract", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Counts per stage and seconds, for the extract page and the benchmarks; never identifiers.
    figures = models.JSONField(default=dict, blank=True)
    # The stage a running run is in (matching.linkage.figures.STAGES), for its progress bar.
    stage = models.CharField(max_length=20, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The review decision a decision's run applies, so that a run whose worker died can be
    # queued again with it. A plain id: the task exits quietly when the item is gone.
    review_item_id = models.BigIntegerField(null=True, blank=True)
    # Written when the run starts and as it enters each stage: how housekeeping tells a run
    # whose process died from a slow one where there is no advisory lock to ask (SQLite).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Why a run ended as it did, in words, where its status alone does not say (abandoned).
    message = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"linkage run {self.pk} ({self.kind})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED, self.Status.ABANDONED)

    @property
    def progress_percent(self) -> int:
        """How far through its stages a run is (matching.linkage.figures.STAGES), for progress
        bars."""
        from matching.linkage.figures import STAGES

        if self.is_finished:
            return 100
        return STAGES.get(self.stage, 0)


class LinkageModel(models.Model):
    """Fellegi-Sunter parameters estimated from the data: m and u per comparison level.

    The newest row is the one in use. Old rows stay, so an explanation of a link made months ago
    can say which weights made it.
    """

    created_at = models.DateTimeField(auto_now_add=True)
    parameters = models.JSONField()
    trained_on_pairs = models.PositiveBigIntegerField(default=0)
    trained_on_records = models.PositiveBigIntegerField(default=0)
    # How the estimate went (matching.model): estimated or refused and why, the records of each
    # dataset it saw (so a new dataset or a changed mix is noticed), the pairs EM ran on.
    fit = models.JSONField(default=dict, blank=True)

    class Meta:
        get_latest_by = "pk"

    def __str__(self) -> str:
        return f"linkage model {self.pk}"


class Household(models.Model):
    reference = models.CharField(max_length=12, unique=True, default=_reference)
    created_at = models.DateTimeField(auto_now_add=True)
    # A household nobody lives in any more is kept (persons' histories point at it), not reused.
    is_active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"household {self.reference}"


class Person(models.Model):
    """One human being as linkage sees them: the records that are theirs across agencies.

    The id is stable: a merge keeps the older person and records the merge; a split keeps the id
    on the part holding the person's oldest record.
    """

    reference = models.CharField(max_length=12, unique=True, default=_reference)
    created_at = models.DateTimeField(auto_now_add=True)
    is_active = models.BooleanField(default=True)
    merged_into = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    household = models.ForeignKey(
        Household, on_delete=models.SET_NULL, null=True, blank=True, related_name="members"
    )

    class Meta:
        permissions = [("review_links", "Can review uncertain record links")]

    def __str__(self) -> str:
        return f"person {self.reference}"


class PersonEvent(models.Model):
    """What happened to a person: created, merged with another, split, records added or removed."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        MERGED = "merged", "Merged in another person"
        MERGED_INTO = "merged_into", "Merged into another person"
        SPLIT = "split", "Split"
        SPLIT_FROM = "split_from", "Split from another person"
        HOUSEHOLD = "household", "Household changed"

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    other = models.ForeignKey(
        Person, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    run = models.ForeignKey(LinkageRun, on_delete=models.PROTECT, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    records = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["person", "at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.person_id}"


class LinkageRecord(models.Model):
    """A source record's keyed pseudonyms and the person linkage put it in.

    `keys` is one row of matching.tokens.RECORD_DTYPE: keyed 64-bit tokens of each normalised
    identifier, blocking tokens and Bloom encodings, packed so a million records load into one
    array. It is computed from the sealed identity, so a new linkage key recomputes it.
    """

    record = models.OneToOneField(
        "agencies.SourceRecord", on_delete=models.CASCADE, primary_key=True, related_name="linkage"
    )
    agency_id = models.IntegerField()
    dataset_id = models.IntegerField()
    keys = models.BinaryField()
    key_version = models.PositiveSmallIntegerField()
    # Compared with the record's updated_at: an extract that rewrote the record makes these stale.
    keys_made_at = models.DateTimeField()
    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, null=True, blank=True, related_name="records"
    )
    # How the record joined its person: the rule or score of its strongest link there, when.
    link_rule = models.CharField(max_length=40, blank=True)
    link_score = models.FloatField(null=True, blank=True)
    linked_with = models.ForeignKey(
        "agencies.SourceRecord", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    linked_at = models.DateTimeField(null=True, blank=True)
    run = models.ForeignKey(
        LinkageRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The person a retired record was taken out of: erasing the record years later must find
    # that person to erase what is left of them (retention.services). A plain id, not a key:
    # nothing should keep a person alive for a record that no longer belongs to them.
    retired_from_person_id = models.IntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["person"])]

    def __str__(self) -> str:
        return f"linkage of record {self.record_id}"


class SearchKey(models.Model):
    """The keyed values search looks a record up by: the same 64-bit HMACs as in its linkage keys
    (matching.tokens.SEARCH_FIELDS), as signed integers, each indexed. The only index of
    identifiers ShareHub has is this one, of keyed hashes, never of plaintext.

    Apart from LinkageRecord because linkage rewrites a record's person on every run: with the
    indexes there, every such update would write eight more index entries. These rows are
    written only when the record's keys are (matching.linkage.keys.keys_refresh).
    """

    record = models.OneToOneField(
        LinkageRecord, on_delete=models.CASCADE, primary_key=True, related_name="search"
    )
    # One column per matching.tokens.SEARCH_FIELDS, in that order; NULL where the record lacks it.
    nhs = models.BigIntegerField(null=True)
    upn = models.BigIntegerField(null=True)
    pnc = models.BigIntegerField(null=True)
    surname = models.BigIntegerField(null=True)
    dob = models.BigIntegerField(null=True)
    postcode = models.BigIntegerField(null=True)
    block_sy = models.BigIntegerField(null=True)
    block_fd = models.BigIntegerField(null=True)
    block_dfi = models.BigIntegerField(null=True)

    class Meta:
        # Partial: most records lack most identifiers (only health sends NHS numbers, only
        # schools UPNs), and an index entry per NULL would be written for nothing.
        indexes = [
            models.Index(
                fields=[name],
                name=f"searchkey_{name}",
                condition=models.Q(**{f"{name}__isnull": False}),
            )
            for name in (
                "nhs",
                "upn",
                "pnc",
                "surname",
                "dob",
                "postcode",
                "block_sy",
                "block_fd",
                "block_dfi",
            )  # fmt: skip
        ]

    def __str__(self) -> str:
        return f"search keys of record {self.record_id}"


class ReviewItem(models.Model):
    """A pair of records linkage was not sure of, for a reviewer to confirm or reject."""

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for review"
        CONFIRMED = "confirmed", "Same person"
        REJECTED = "rejected", "Different people"
        WITHDRAWN = "withdrawn", "No longer needed"

    class Reason(models.TextChoices):
        SCORE = "score", "Score between the thresholds"
        GUARD = "guard", "Would join two people with clearly different details"
        REPORTED = "reported", "Reported by a practitioner"

    # record_a < record_b, so a pair has one row whichever way round it was found.
    record_a = models.ForeignKey(
        "agencies.SourceRecord", on_delete=models.CASCADE, related_name="+"
    )
    record_b = models.ForeignKey(
        "agencies.SourceRecord", on_delete=models.CASCADE, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    reason = models.CharField(max_length=20, choices=Reason.choices, default=Reason.SCORE)
    score = models.FloatField()
    probability = models.FloatField()
    # Comparison -> level label ("agree", "similar", "disagree", "missing") and its weight.
    comparison = models.JSONField(default=dict)
    # Why linkage could not decide it, in words (matching.scoring.uncertain_because).
    why = models.CharField(max_length=400, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    run = models.ForeignKey(LinkageRun, on_delete=models.SET_NULL, null=True, related_name="+")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    # When a practitioner's report on the pair (LinkChallenge) began waiting for a decision; None
    # once a reviewer has decided it. Such an item heads the queue, and linkage neither withdraws
    # it nor trims it from the queue: a person said linkage was wrong, and a person answers.
    reported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["record_a", "record_b"], name="reviewitem_one_per_pair"
            ),
            models.CheckConstraint(
                condition=models.Q(record_a__lt=models.F("record_b")), name="reviewitem_ordered"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-score"]),
            models.Index(
                fields=["reported_at"],
                name="reviewitem_reported",
                condition=models.Q(reported_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"review {self.pk} ({self.status})"


class ReviewDecision(models.Model):
    """Every decision on a review item, append-only: who decided what, when, and why."""

    item = models.ForeignKey(ReviewItem, on_delete=models.PROTECT, related_name="decisions")
    decision = models.CharField(max_length=20, choices=ReviewItem.Status.choices)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    decided_at = models.DateTimeField(auto_now_add=True)
    note = models.TextField(blank=True)
    channel = models.CharField(max_length=10, default="web")

    def __str__(self) -> str:
        return f"{self.decision} on review {self.item_id}"


class LinkChallenge(models.Model):
    """A practitioner's report that linkage got a person wrong: a record that is not this
    person's (WRONG), or a member of their household who is the same person (MISSED).

    It asks a link reviewer about one pair of records (`item`), and the reviewer's decision on
    that pair binds linkage as any decision does (matching.review). The reporter is kept so they
    can be told the outcome and cannot report the same thing twice; the link reviewer is never
    told who, or which agency, reported (the reporter's own IG officers see it in their audit).
    `reason` is screened for identifiers before it is kept.
    """

    class Kind(models.TextChoices):
        WRONG = "wrong", "This record is not this person"
        MISSED = "missed", "Another person is this same person"

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for a link reviewer"
        DECIDED = "decided", "Decided"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="challenges")
    # WRONG: the record reported. MISSED: none; the pair is a record of each person.
    record = models.ForeignKey(
        "agencies.SourceRecord",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    # The person whose case summary it was reported from, and for MISSED the household member
    # said to be them: accountability, as an access log entry names a person.
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    other_person = models.ForeignKey(
        Person, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.TextField()
    purpose = models.CharField(max_length=32)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reported_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    # The reviewer's answer on the pair: ReviewItem.Status.CONFIRMED or REJECTED.
    outcome = models.CharField(max_length=20, choices=ReviewItem.Status.choices, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One open report per reporter per pair: a practitioner cannot flood the queue.
            models.UniqueConstraint(
                fields=["reported_by", "item"],
                condition=models.Q(status="open"),
                name="linkchallenge_one_open_per_pair",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(kind="wrong", record__isnull=False, other_person__isnull=True)
                    | models.Q(kind="missed", record__isnull=True, other_person__isnull=False)
                ),
                name="linkchallenge_kind_shape",
            ),
        ]
        indexes = [
            models.Index(
                fields=["record"],
                name="linkchallenge_open_record",
                condition=models.Q(status="open"),
            ),
            models.Index(fields=["item", "status"], name="linkchallenge_item_status"),
        ]

    def __str__(self) -> str:
        return f"link report {self.pk} ({self.kind}, {self.status})"


class RecordApart(models.Model):
    """A record a link reviewer decided is not the person it sat in (a practitioner's report of
    a wrong link, upheld as "different people"), held apart from each record that person had at
    the decision.

    A "not this person" answer is about the record against the whole person, not against the
    one record it was shown beside: a single cannot-link pair would let the record's other links
    (a shared PNC id) hold it in, and split the rest of the person instead. Linkage keeps to
    each row as to a "different people" pair (matching.linkage), so only the reported record
    leaves, and its strong identifiers do not pull it back. The rows go when the reviewer
    changes the decision to "same person" (matching.challenges).
    """

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="apart")
    record = models.ForeignKey("agencies.SourceRecord", on_delete=models.CASCADE, related_name="+")
    other = models.ForeignKey("agencies.SourceRecord", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item", "record", "other"], name="recordapart_one_per_pair"
            ),
        ]

    def __str__(self) -> str:
        return f"record {self.record_id} apart from {self.other_id}"


class LinkageExport(models.Model):
    """A record that an export was made: by whom, for what, how many rows. Never the key."""

    made_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    made_at = models.DateTimeField(auto_now_add=True)
    purpose = models.CharField(max_length=200)
    rows = models.PositiveIntegerField(default=0)
    channel = models.CharField(max_length=10)

    def __str__(self) -> str:
        return f"linkage export {self.pk}"
