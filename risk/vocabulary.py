"""Phrases in free text, read the way a practitioner writes them: "no concerns about substance
misuse" is not a concern about substance misuse.

A vocabulary is a list of phrases, every one a variant of the same concern ("substance misuse",
"drug use", "misus* alcohol"). Words are matched whole and without regard to case, punctuation or
hyphens ("self-harm" is "self harm"); a word ending in `*` matches any ending ("abus*": abuse,
abused, abusive).

Negation follows NegEx (Chapman et al., 2001), the rule set clinical text mining still starts
from: a match is negated when a negating cue ("no", "denies", "no evidence of") comes at most
NEGATION_WINDOW words before it in the same clause, or a trailing cue ("ruled out", "was
denied") follows it in that clause. A clause ends at sentence punctuation or at a word that turns
the sentence ("but", "however"), so "no concerns about school but substance misuse noted"
counts. Pseudo-negations ("not ruled out", "cannot be ruled out") are not negations.

Matching runs over every record of a million-record partnership nightly, so each vocabulary is
one compiled regular expression over a normalised copy of the text, and negation is looked at
only where a phrase matched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# At most this many words between a negating cue and the phrase it negates.
NEGATION_WINDOW = 6

# Cues before a phrase. Multi-word cues are listed in full: "no evidence of" negates where "of"
# alone would not. Normalised like the text (lower case, single spaces).
NEGATION_BEFORE = (
    "no",
    "not",
    "never",
    "nil",
    "none",
    "without",
    "denies",
    "denied",
    "deny",
    "denying",
    "absence of",
    "free of",
    "negative for",
    "no evidence of",
    "no history of",
    "no signs of",
    "no sign of",
    "no indication of",
    "no concerns about",
    "no concerns regarding",
    "no concerns re",
    "no concerns of",
    "no known",
    "no longer",
    "no reported",
    "not known to",
    "unlikely to be",
    "there is no",
    "there are no",
)
# Cues after a phrase, in the same clause.
NEGATION_AFTER = (
    "ruled out",
    "was denied",
    "were denied",
    "is denied",
    "denied",
    "not found",
    "not present",
    "not substantiated",
    "unfounded",
    "not a concern",
    "not an issue",
    "not evident",
)
# Look like negation and are not: a concern that "cannot be ruled out" stands.
PSEUDO_NEGATION = (
    "not ruled out",
    "cannot be ruled out",
    "can not be ruled out",
    "cannot rule out",
    "can t rule out",
    "not only",
    "no change in",
    "no improvement in",
    "no reduction in",
)
# Words that end the clause a cue governs.
CLAUSE_BREAKS = frozenset(
    {"but", "however", "although", "though", "except", "whereas", "yet", "nevertheless"}
)
_SENTENCE_MARK = "."

_PUNCTUATION_BREAK = re.compile(r"[.;:!?\n]+")
_NON_WORD = re.compile(r"[^a-z0-9.]+")
_SPACES = re.compile(r" +")
_WORD = re.compile(r"^[a-z0-9]+\*?$")


class VocabularyError(ValueError):
    """A phrase list that cannot be used; `problems` says what to change, phrase by phrase."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def text_normalise(text: str) -> str:
    """Lower case, sentence punctuation as " . ", every other non-letter a space."""
    lowered = text.casefold().replace("\u2019", "'").replace("'", " ")
    marked = _PUNCTUATION_BREAK.sub(" . ", lowered)
    return _SPACES.sub(" ", _NON_WORD.sub(" ", marked)).strip()


def phrase_words(phrase: str) -> list[str]:
    """A phrase as the words it matches; `*` may end a word. Empty when nothing is left."""
    words = text_normalise(phrase.replace("*", "STAR")).replace("star", "*").split()
    return [w for w in words if w != _SENTENCE_MARK]


def phrases_clean(raw: list[str] | str) -> list[str]:
    """Phrases as typed (a list, or one per line), checked; raises VocabularyError."""
    lines = raw.splitlines() if isinstance(raw, str) else list(raw)
    problems = []
    phrases: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not isinstance(line, str):
            problems.append(f"Phrase {number} is not text.")
            continue
        line = line.strip()
        if not line:
            continue
        words = phrase_words(line)
        if not words:
            problems.append(f'Phrase {number} ("{line[:40]}") has no letters or digits.')
            continue
        bad = [w for w in words if not _WORD.match(w) or w == "*"]
        if bad:
            problems.append(
                f'Phrase {number} ("{line[:40]}"): "*" can only end a word, as in "abus*".'
            )
            continue
        if len(words) == 1 and words[0].endswith("*") and len(words[0]) < 4:
            problems.append(
                f'Phrase {number} ("{line[:40]}") would match too much: give at least three '
                'letters before "*".'
            )
            continue
        joined = " ".join(words)
        if joined not in phrases:
            phrases.append(joined)
    if not phrases and not problems:
        problems.append("Give at least one phrase, one per line.")
    if problems:
        raise VocabularyError(problems)
    return phrases


def _word_pattern(word: str) -> str:
    if word.endswith("*"):
        return re.escape(word[:-1]) + r"[a-z0-9]*"
    return re.escape(word)


def _cue_pattern(cues: tuple[str, ...]) -> str:
    # Longest first, so "no evidence of" is preferred to "no".
    ordered = sorted(cues, key=len, reverse=True)
    return "|".join(re.escape(cue) for cue in ordered)


_BEFORE_CUE = re.compile(r"(?:^| )(?:" + _cue_pattern(NEGATION_BEFORE) + r")(?= |$)")
_AFTER_CUE = re.compile(r"^ ?(?:[a-z0-9]+ ){0,3}?(?:" + _cue_pattern(NEGATION_AFTER) + r")(?= |$)")
_PSEUDO = re.compile(r"(?:^| )(?:" + _cue_pattern(PSEUDO_NEGATION) + r")(?= |$)")


@dataclass(frozen=True)
class PhraseMatch:
    phrase: str  # the vocabulary's phrase, never the text around it
    negated: bool


class Vocabulary:
    """A compiled list of phrases; `first_affirmed(text)` is what scoring asks."""

    def __init__(self, phrases: list[str]):
        self.phrases = [" ".join(phrase_words(p)) for p in phrases if phrase_words(p)]
        alternatives = [
            f"(?P<p{index}>{' '.join(_word_pattern(w) for w in phrase.split())})"
            for index, phrase in enumerate(self.phrases)
        ]
        self._pattern = re.compile(r"(?<![a-z0-9])(?:" + "|".join(alternatives) + r")(?![a-z0-9])")

    def matches(self, text: str) -> list[PhraseMatch]:
        """Every phrase found in `text`, each marked negated or not."""
        if not text or not self.phrases:
            return []
        normalised = text_normalise(text)
        found = []
        for match in self._pattern.finditer(normalised):
            index = int(match.lastgroup[1:]) if match.lastgroup else 0
            found.append(
                PhraseMatch(self.phrases[index], _negated(normalised, match.start(), match.end()))
            )
        return found

    def first_affirmed(self, text: str) -> str | None:
        """The first phrase found and not negated, or None."""
        for found in self.matches(text):
            if not found.negated:
                return found.phrase
        return None


def _clause_before(normalised: str, start: int) -> list[str]:
    words = normalised[:start].split()
    clause: list[str] = []
    for word in reversed(words):
        if word == _SENTENCE_MARK or word in CLAUSE_BREAKS:
            break
        clause.append(word)
    clause.reverse()
    return clause


def _clause_after(normalised: str, end: int) -> list[str]:
    clause = []
    for word in normalised[end:].split():
        if word == _SENTENCE_MARK or word in CLAUSE_BREAKS:
            break
        clause.append(word)
    return clause


def _negated(normalised: str, start: int, end: int) -> bool:
    before = _clause_before(normalised, start)
    after = _clause_after(normalised, end)
    window = " ".join(before[-(NEGATION_WINDOW + 3) :])
    following = " ".join(after[:NEGATION_WINDOW])
    # A pseudo-negation around the phrase ("cannot be ruled out") keeps it affirmed.
    if _PSEUDO.search(window) or _PSEUDO.search(following):
        return False
    for cue in _BEFORE_CUE.finditer(window):
        words_between = len(window[cue.end() :].split())
        if words_between <= NEGATION_WINDOW:
            return True
    return bool(_AFTER_CUE.search(" " + following if following else ""))
