"""Issue 20, the outside tester's findings C, F, G and H: exports that line up row by row,
drill-downs behind suppressed counts, template comments printed on the page, and withdrawing a
dataset whose mapping is like the demo's housing one."""

import re
from pathlib import Path

from django.conf import settings

# --- G: a template comment is never printed -----------------------------------------------------


def _template_files():
    root = Path(settings.BASE_DIR)
    for path in root.rglob("templates/**/*.html"):
        if ".venv" not in path.parts and "node_modules" not in path.parts:
            yield path


def test_no_template_has_a_comment_over_several_lines():
    # Django's {# #} ends at the end of its line; one that goes on is printed as text.
    unclosed = [
        f"{path.relative_to(settings.BASE_DIR)}:{number}"
        for path in _template_files()
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        for opening in re.finditer(r"\{#", line)
        if "#}" not in line[opening.end() :]
    ]
    assert list(_template_files())
    assert unclosed == []
