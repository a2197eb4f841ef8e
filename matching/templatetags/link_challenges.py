"""{% challenge_warning %}: the warning of a waiting report of a wrong or missed link, for a
record or a person, from what matching.challenges.open_challenges_for returned.

    {% load link_challenges %}
    {% challenge_warning challenges record=record.record_id %}
    {% challenge_warning challenges person=view.person.pk %}

A tag because a template cannot look a dictionary up by a variable key.
"""

from django import template

from matching.challenges import ChallengeWarnings

register = template.Library()


@register.inclusion_tag("matching/_challenge_warning.html")
def challenge_warning(
    challenges: ChallengeWarnings | None, *, record: int | None = None, person: int | None = None
) -> dict:
    notice = None
    if challenges:
        if record is not None:
            notice = challenges.for_record(record)
        elif person is not None:
            notice = challenges.for_person(person)
    return {"notice": notice}
