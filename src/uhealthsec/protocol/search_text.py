"""The search analyser: the keywords a text, a name or a date is indexed under, and
the keywords a query looks for (docs/PROTOCOL.md, "Search analyser").

Both clients follow it to the letter, the browser included, so that a document
indexed by one is found by the other: tests/vectors/search.json holds its vectors.
Pure functions; no I/O.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from typing import Any

import snowballstemmer  # type: ignore[import-untyped]

#: Longer words are not indexed (they are not words: identifiers, base64, noise).
MAX_WORD_CHARS = 40
#: Shortest name prefix indexed ("pet" finds Petit).
MIN_PREFIX_CHARS = 3
#: Longest name prefix indexed (the whole name word is indexed however long).
MAX_PREFIX_CHARS = 20

# Folded (lowercase, accents removed) French and English stop words.
_FRENCH_STOP_WORDS = """
    au aux avec ce ces dans de des du elle en et eux il ils je la le les leur lui ma
    mais me meme mes moi mon ne nos notre nous on ou par pas pour qu que qui sa se ses
    son sur ta te tes toi ton tu un une vos votre vous c d j l m n s t y ete etee etees
    etes etant suis es est sommes sont serai sera serons seront serais serait etais
    etait etions etaient fus fut ai as avons avez ont aurai aura aurons auront aurais
    aurait avais avait avions avaient eu eue eus cet cette ceci cela ca donc or ni car
    si tres plus sans sous chez comme aussi alors ainsi dont lors leurs quel quelle
    quels quelles
    madame mme monsieur mademoiselle mlle docteur dr professeur pr
"""
_ENGLISH_STOP_WORDS = """
    a an and are as at be been being but by can could did do does doing for from had
    has have having he her hers him his how i if in into is it its itself me my no nor
    not of off on once only or other our ours out over own she should so some such than
    that the their theirs them then there these they this those through to too under
    until up very was we were what when where which while who whom why will with would
    you your yours mr mrs ms
"""
FRENCH_STOP_WORDS = frozenset(_FRENCH_STOP_WORDS.split())
ENGLISH_STOP_WORDS = frozenset(_ENGLISH_STOP_WORDS.split())
STOP_WORDS = FRENCH_STOP_WORDS | ENGLISH_STOP_WORDS

#: Letters that Unicode does not decompose into a base letter and a mark.
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss", "ø": "o", "đ": "d", "ł": "l"})
_ISO_DATE = re.compile(r"(?<![0-9])([0-9]{4})-([0-9]{2})(?:-([0-9]{2}))?(?![0-9])")


@lru_cache(maxsize=1)
def _french() -> Any:
    return snowballstemmer.stemmer("french")


def _is_word_char(c: str) -> bool:
    return unicodedata.category(c)[0] in "LNM"


def fold(text: str) -> str:
    """Lowercase, accents removed: NFD, combining marks (Mn) dropped, ligatures
    spelled out, NFC."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    bare = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", bare.translate(_LIGATURES))


def words(text: str) -> list[str]:
    """NFKC, lowercase, then the maximal runs of letters, digits and marks (Unicode
    general categories L*, N*, M*), in order."""
    normalized = unicodedata.normalize("NFKC", text).lower()
    found, current = [], []
    for c in normalized:
        if _is_word_char(c):
            current.append(c)
        elif current:
            found.append("".join(current))
            current = []
    if current:
        found.append("".join(current))
    return found


def _kept(word: str) -> str | None:
    """The folded word, or None for a stop word, a one-character or an overlong word."""
    folded = fold(word)
    if len(folded) < 2 or len(folded) > MAX_WORD_CHARS or folded in STOP_WORDS:
        return None
    return folded


@lru_cache(maxsize=65536)
def _stem(word: str, folded: str) -> str:
    # Snowball's French rules read accents, so the lowercase word is stemmed before
    # its stem is folded; numbers are kept as they are. Cached: a text repeats its
    # words, and the stemmer (pure Python) costs far more than the lookup.
    if folded.isdigit():
        return folded
    stem: str = _french().stemWord(word)
    return fold(stem) or folded


def text_keywords(text: str) -> set[str]:
    """The keywords of free text (title, file name, type, body): each kept word's
    stem; and each ISO date (YYYY-MM or YYYY-MM-DD) found in it, as date_keywords."""
    keywords: set[str] = set()
    for match in _ISO_DATE.finditer(text):
        keywords |= _date_tokens(match)
    for word in words(text):
        folded = _kept(word)
        if folded is not None:
            keywords.add(_stem(word, folded))
    return keywords


def name_keywords(name: str) -> set[str]:
    """The keywords of a person's name (patient, author): each word's stem, the folded
    word, and its prefixes of 3 to 20 characters."""
    keywords: set[str] = set()
    for word in words(name):
        folded = _kept(word)
        if folded is None:
            continue
        keywords.add(_stem(word, folded))
        keywords.add(folded)
        for size in range(MIN_PREFIX_CHARS, min(len(folded), MAX_PREFIX_CHARS) + 1):
            keywords.add(folded[:size])
    return keywords


def _date_tokens(match: re.Match[str]) -> set[str]:
    year, month, day = match.groups()
    tokens = {year, f"{year}-{month}"}
    if day is not None:
        tokens.add(f"{year}-{month}-{day}")
    return tokens


def date_keywords(day: date) -> set[str]:
    """A date: its year, year-month and year-month-day, as "2026", "2026-11",
    "2026-11-27"."""
    match = _ISO_DATE.fullmatch(day.isoformat())
    assert match is not None  # isoformat() is YYYY-MM-DD
    return _date_tokens(match)


def query_terms(query: str) -> list[frozenset[str]]:
    """What a query looks for: one term per kept word (and per ISO date), each the set
    of keywords any of which matches it: the word's stem and the folded word (so that
    a name or a name's prefix typed whole is found). A document matches the query when
    it matches every term."""
    terms: list[frozenset[str]] = []
    for match in _ISO_DATE.finditer(query):
        terms.append(frozenset({match.group(0)}))
    without_dates = _ISO_DATE.sub(" ", query)
    for word in words(without_dates):
        folded = _kept(word)
        if folded is not None:
            term = frozenset({_stem(word, folded), folded})
            if term not in terms:
                terms.append(term)
    return terms


def document_keywords(
    *,
    texts: Iterable[str] = (),
    names: Iterable[str] = (),
    dates: Iterable[date] = (),
) -> set[str]:
    """Every keyword a document is indexed under."""
    keywords: set[str] = set()
    for text in texts:
        keywords |= text_keywords(text)
    for name in names:
        keywords |= name_keywords(name)
    for day in dates:
        keywords |= date_keywords(day)
    return keywords


#: FHIR elements whose strings are identifiers, addresses, codes of the format itself
#: or encoded bytes (an attachment's ``data``), not words of the record.
FHIR_SKIPPED_ELEMENTS = frozenset(
    {"resourceType", "id", "reference", "system", "url", "fullUrl", "data", "contentType"}
    | {"language", "versionId", "profile", "lastUpdated", "status"}
)
#: Deeper values are not read (no resource of the specification nests this deep).
MAX_FHIR_DEPTH = 32
#: JSON nested deeper than this (objects and arrays) is not read at all: both clients'
#: parsers then agree on what they read.
MAX_FHIR_JSON_NESTING = 512
_XHTML_TAG = re.compile(r"<[^>]*>")
_XML_ENTITY = re.compile(r"&(#[0-9]{1,7}|#x[0-9a-fA-F]{1,6}|amp|lt|gt|quot|apos);")
_NAMED_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def _entity(match: re.Match[str]) -> str:
    name = match.group(1)
    if name in _NAMED_ENTITIES:
        return _NAMED_ENTITIES[name]
    point = int(name[2:], 16) if name[1] == "x" else int(name[1:])
    # Nothing that is not a character (NUL, a lone surrogate, past U+10FFFF).
    return chr(point) if 0 < point <= 0x10FFFF and not 0xD800 <= point <= 0xDFFF else " "


def fhir_text(resource: object) -> str:
    """The text of a FHIR resource (JSON, as parsed) to index: every string value but
    those of FHIR_SKIPPED_ELEMENTS, the narrative (``div``) without its tags and with
    its character references read, one per line. Numbers and booleans are not text."""
    parts: list[str] = []

    def walk(value: object, element: str, depth: int) -> None:
        if depth > MAX_FHIR_DEPTH:
            return
        if isinstance(value, str):
            if element == "div":
                parts.append(_XML_ENTITY.sub(_entity, _XHTML_TAG.sub(" ", value)))
            elif element not in FHIR_SKIPPED_ELEMENTS:
                parts.append(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, key, depth + 1)
        elif isinstance(value, list):
            for item in value:
                walk(item, element, depth + 1)

    walk(resource, "", 0)
    return "\n".join(parts)


def _nesting_within(raw: bytes, limit: int) -> bool:
    """Whether no object or array of the JSON ``raw`` lies deeper than ``limit``."""
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return False
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return True


def _not_json(constant: str) -> object:
    raise ValueError(f"{constant} is not JSON")


def fhir_resource_text(raw: bytes) -> str:
    """``fhir_text`` of a file holding a FHIR resource: strict UTF-8 JSON (one BOM
    allowed), no NaN or Infinity, nested at most MAX_FHIR_JSON_NESTING deep, an object
    whose ``resourceType`` is a string. Anything else: no text."""
    if not _nesting_within(raw, MAX_FHIR_JSON_NESTING):
        return ""
    try:
        # Numbers are not text: read as floats, any length (as JavaScript reads them).
        resource = json.loads(raw.decode("utf-8-sig"), parse_constant=_not_json, parse_int=float)
    except (ValueError, RecursionError):
        return ""
    if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
        return fhir_text(resource)
    return ""
