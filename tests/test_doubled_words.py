"""No doubled words ("the the", "a a", "new new") in what people read.

Three places they hide: the templates, the strings in the code (two literals side by side are
one string to Python, so "out of the " "the note" is caught whole), and sentences put together
at run time from a label, such as a notification email that names its kind ("There is a new
new alerts" once came from a label that begins "New").
"""

import ast
import re
from pathlib import Path

import pytest
from django.core import mail

from notifications.models import Notification, NotificationKind
from notifications.tasks import notification_email

ROOT = Path(__file__).resolve().parents[1]
# Everything that is not the application: tests, benchmarks, tooling and what is installed.
NOT_APP = {"tests", "bench", "node_modules", "build", "var", "static", "scripts"}
# Not after a dot: "audit.reads reads a search result" names a module, then says what it does.
DOUBLED = re.compile(r"(?<![.\w])([a-z]+)\s+\1\b", re.IGNORECASE)
# Stands in for a value filled in at run time: not a word, so nothing doubles across it.
HOLE = " \x00 "


def doubled(text: str) -> list[str]:
    return [" ".join(match.group(0).split()) for match in DOUBLED.finditer(text)]


def app_python_files() -> list[Path]:
    return sorted(
        path
        for directory in ROOT.iterdir()
        if directory.is_dir()
        and not directory.name.startswith(".")
        and directory.name not in NOT_APP
        and (directory / "__init__.py").exists()
        for path in directory.rglob("*.py")
    )


def strings_in(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string literal in the module, f-strings with their holes."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inside_fstrings = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in node.values
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(
                part.value if isinstance(part, ast.Constant) else HOLE for part in node.values
            )
            found.append((node.lineno, text))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in inside_fstrings
        ):
            found.append((node.lineno, node.value))
    return found


TEMPLATE_COMMENT = re.compile(r"\{#.*?#\}|\{%\s*comment\s*%\}.*?\{%\s*endcomment\s*%\}", re.S)
TEMPLATE_VARIABLE = re.compile(r"\{\{.*?\}\}", re.S)
# Alternatives (if / else, for / empty) never show together; a block stands on its own.
TEMPLATE_BRANCH = re.compile(r"\{%\s*(?:else|elif|empty|block|endblock)\b.*?%\}", re.S)
TEMPLATE_TAG = re.compile(r"\{%.*?%\}", re.S)
# Elements on lines of their own (a back link, then a caption) are not one sentence.
BETWEEN_LINES = re.compile(r">\s*\n\s*<")
# Inside a sentence: the words either side of these run on. Any other element (a heading, a
# paragraph, a table cell) ends what came before it.
INLINE_TAG = re.compile(r"</?(?:a|abbr|b|code|em|i|span|strong|small)\b[^>]*>", re.S | re.I)
HTML_TAG = re.compile(r"<[^>]*>", re.S)


def template_text(source: str) -> str:
    """What a template says, near enough: tags and markup gone, each value a hole."""
    text = TEMPLATE_COMMENT.sub(" ", source)
    text = TEMPLATE_VARIABLE.sub(HOLE, text)
    text = TEMPLATE_BRANCH.sub(HOLE, text)
    text = TEMPLATE_TAG.sub(" ", text)
    text = BETWEEN_LINES.sub(">" + HOLE + "<", text)
    text = INLINE_TAG.sub(" ", text)
    return HTML_TAG.sub(HOLE, text)


def test_the_scanner_finds_what_it_is_for(tmp_path):
    assert doubled("Take it out of the the note") == ["the the"]
    assert doubled("There is a new New alerts for you") == ["new New"]
    assert doubled("a\n   a line break between") == ["a a"]
    assert doubled("the theme, an another, anew new") == []
    assert doubled("in the form audit.reads reads a result") == []
    assert doubled("Reads reads twice.") == ["Reads reads"]
    assert doubled(template_text("out of the <strong>the</strong> note")) == ["the the"]
    assert doubled(template_text("the {{ value }} the")) == []
    assert doubled(template_text("<h2>Roles</h2><table><th>Roles</th></table>")) == []
    assert doubled(template_text("{% if a %}Edit the draft{% else %}Draft it{% endif %}")) == []
    assert doubled(template_text("a {% if b %}new{% endif %} new")) == ["new new"]
    source = 'x = ("out of the "\n     "the note")\ny = f"a {b} a"\n'
    path = tmp_path / "probe.py"
    path.write_text(source, encoding="utf-8")
    assert [doubled(text) for _, text in strings_in(path)] == [["the the"], []]


def test_no_doubled_word_in_the_templates():
    found = [
        f"{path.relative_to(ROOT)}: {words}"
        for path in sorted((ROOT / "templates").rglob("*.html"))
        if (words := doubled(template_text(path.read_text(encoding="utf-8"))))
    ]
    assert found == []


def test_no_doubled_word_in_the_strings_of_the_code():
    files = app_python_files()
    assert ROOT / "notifications" / "tasks.py" in files
    found = [
        f"{path.relative_to(ROOT)}:{line}: {words}"
        for path in files
        for line, text in strings_in(path)
        if (words := doubled(text))
    ]
    assert found == []


@pytest.mark.parametrize("kind", NotificationKind.values)
def test_no_doubled_word_in_a_notification_email(kind, member):
    recipient = member("practitioner")
    notification = Notification.objects.create(
        recipient=recipient, kind=kind, message="m", link="/somewhere/"
    )
    notification_email(notification_id=notification.pk)
    [email] = mail.outbox
    assert doubled(email.subject) == []
    assert doubled(email.body) == []
    assert NotificationKind(kind).label in email.body
