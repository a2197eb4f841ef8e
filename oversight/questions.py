"""Asking the reader's agency to explain a flagged read of your agency's records, and answering.

    read_question_ask(user=, membership=, flag_id=, question=)        the owner agency asks
    read_question_answer(user=, membership=, question_id=, answer=)   the reader's agency answers
    question_for(membership=, question_id=)                           one thread, for either side
    questions_for(agency_id=)                                         an agency's threads

A thread belongs to two agencies: the one whose records were read (it asks) and the one the
reader acted for (it answers); their IG officers see it, nobody else does. Each agency answers
for its own staff, so the question goes to the reader's agency, not the reader. The text is free
text that ShareHub keeps, so it is screened for identifiers as an override's justification is;
the person is named by ShareHub reference only. Asking and answering are both audited.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from agencies.models import Agency, Membership, Role
from audit.models import MAX_QUESTION, MIN_QUESTION, AuditAction, ReadFlag, ReadQuestion
from audit.services import audit_record
from matching.screening import shapes_problem
from notifications.models import NotificationKind
from notifications.services import notify


class QuestionError(ValueError):
    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(problems.values()))
        self.problems = problems


class NotFound(QuestionError):
    """Not the agency's flag or thread: answered as if it did not exist."""

    def __init__(self):
        super().__init__({})


def _text_problem(text: str, *, what: str) -> str:
    text = text.strip()
    if len(text) < MIN_QUESTION:
        return f"Write at least {MIN_QUESTION} characters in your {what}."
    if len(text) > MAX_QUESTION:
        return f"Shorten your {what} to {MAX_QUESTION} characters or fewer."
    # No one's identifiers are shown on these pages, so the screen looks for shapes only.
    return shapes_problem(text, what=what)


def _ig_officers(agency_id: int) -> list:
    return [
        m.user
        for m in Membership.objects.filter(
            agency_id=agency_id, role=Role.IG_OFFICER, is_active=True
        ).select_related("user")
    ]


def flag_to_ask_about(*, membership, flag_id: int) -> ReadFlag:
    """A flag told to the membership's agency whose reader's agency is known; else NotFound."""
    flag = ReadFlag.objects.filter(
        pk=flag_id, agency_id=membership.agency_id, reader_agency_id__isnull=False
    ).first()
    if flag is None:
        raise NotFound()
    return flag


def read_question_ask(*, user, membership, flag_id: int, question: str) -> ReadQuestion:
    flag = flag_to_ask_about(membership=membership, flag_id=flag_id)
    reader_agency_id = flag.reader_agency_id
    if reader_agency_id is None:  # flag_to_ask_about admits no other; said for the type checker
        raise NotFound()
    problem = _text_problem(question, what="question")
    if problem:
        raise QuestionError({"question": problem})
    owner = Agency.objects.get(pk=flag.agency_id)
    with transaction.atomic():
        thread = ReadQuestion.objects.create(
            flag=flag,
            owner_agency_id=flag.agency_id,
            reader_agency_id=reader_agency_id,
            asked_by=user,
            asked_at=timezone.now(),
            question=question.strip(),
        )
        audit_record(
            action=AuditAction.READ_QUESTION,
            actor=user,
            membership=membership,
            channel="web",
            detail={"question": thread.pk, "flag": flag.pk, "to_agency": reader_agency_id},
        )
        notify(
            recipients=_ig_officers(reader_agency_id),
            kind=NotificationKind.READ_QUESTION,
            message=(
                # Emailed, so no name: the question's page, behind sign-in, names the reader.
                f"{owner.name} asks your agency to explain reading of its records by one of "
                f"your staff on {flag.day:%d %B %Y}. The question names them."
            ),
            link=reverse("audit:question", args=[thread.pk]),
        )
    return thread


def read_question_answer(*, user, membership, question_id: int, answer: str) -> ReadQuestion:
    thread = ReadQuestion.objects.filter(
        pk=question_id, reader_agency_id=membership.agency_id
    ).first()
    if thread is None:
        raise NotFound()
    problems = {}
    if thread.answered_at is not None:
        problems["answer"] = "This question has been answered already."
    else:
        problem = _text_problem(answer, what="answer")
        if problem:
            problems["answer"] = problem
    if problems:
        raise QuestionError(problems)
    reader = Agency.objects.get(pk=thread.reader_agency_id)
    with transaction.atomic():
        # Conditional, so two officers answering at once cannot both win.
        answered = ReadQuestion.objects.filter(pk=thread.pk, answered_at__isnull=True).update(
            answered_by=user, answered_at=timezone.now(), answer=answer.strip()
        )
        if not answered:
            raise QuestionError({"answer": "This question has been answered already."})
        audit_record(
            action=AuditAction.READ_QUESTION,
            actor=user,
            membership=membership,
            channel="web",
            detail={"answer": thread.pk, "flag": thread.flag_id},
        )
        notify(
            recipients=_ig_officers(thread.owner_agency_id),
            kind=NotificationKind.READ_ANSWERED,
            message=f"{reader.name} has answered your question about reading of your records.",
            link=reverse("audit:question", args=[thread.pk]),
        )
    thread.refresh_from_db()
    return thread


def question_for(*, membership, question_id: int) -> ReadQuestion:
    """One thread, for the IG officers of the agency that asked or the one asked; else
    NotFound (the same answer whether or not it exists)."""
    thread = (
        questions_for(agency_id=membership.agency_id)
        .filter(pk=question_id)
        .select_related("flag", "asked_by", "answered_by")
        .first()
    )
    if thread is None:
        raise NotFound()
    return thread


def questions_for(*, agency_id: int) -> QuerySet[ReadQuestion]:
    return ReadQuestion.objects.filter(
        Q(owner_agency_id=agency_id) | Q(reader_agency_id=agency_id)
    ).select_related("flag")
