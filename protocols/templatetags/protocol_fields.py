"""{{ rule|field_labels }}: the labels of the fields a summary-tier rule names, as the dataset's
mapping calls them, so a protocol page never shows raw keys like `field:attendance_pct`.

    {% load protocol_fields %}
    {{ rule|field_labels|join:", " }}
"""

from django import template

from agencies.labels import readable_label
from protocols.fields import dataset_catalogues

register = template.Library()


@register.filter
def field_labels(rule) -> list[str]:
    labels = {
        f.key: f.label for f in dataset_catalogues([rule.dataset_id]).get(rule.dataset_id, [])
    }
    return [labels.get(key) or readable_label(key.split(":", 1)[-1]) for key in rule.fields]
