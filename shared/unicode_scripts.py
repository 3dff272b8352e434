"""Which writing system (Unicode script) a letter belongs to, and which mixes are safe.

Python's ``unicodedata`` has no script property. The table below holds the ranges of the
scripts domain names are written in (from the Unicode Character Database's Scripts.txt, at
block granularity, which is exact for the letters IDNA 2008 allows). A letter outside every
range has the script ``"Other"``, so mixing it with any listed script counts as a mix: the
check errs on the side of refusing. Common and inherited characters (ASCII digits, the
hyphen, combining marks) belong to no script and never make a mix.

The safe mixes are those of UTS #39's "highly restrictive" level, which browsers use to
decide whether to show a name in Unicode: one script, or Latin with the scripts Chinese,
Japanese and Korean are written in.
"""

from __future__ import annotations

import bisect
import unicodedata
from collections.abc import Iterable

OTHER = "Other"

_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x005A, "Latin"), (0x0061, 0x007A, "Latin"), (0x00AA, 0x00AA, "Latin"),
    (0x00BA, 0x00BA, "Latin"), (0x00C0, 0x00D6, "Latin"), (0x00D8, 0x00F6, "Latin"),
    (0x00F8, 0x02AF, "Latin"), (0x0370, 0x03FF, "Greek"), (0x0400, 0x052F, "Cyrillic"),
    (0x0530, 0x058F, "Armenian"), (0x0590, 0x05FF, "Hebrew"), (0x0600, 0x06FF, "Arabic"),
    (0x0700, 0x074F, "Syriac"), (0x0750, 0x077F, "Arabic"), (0x0780, 0x07BF, "Thaana"),
    (0x07C0, 0x07FF, "Nko"), (0x08A0, 0x08FF, "Arabic"), (0x0900, 0x097F, "Devanagari"),
    (0x0980, 0x09FF, "Bengali"), (0x0A00, 0x0A7F, "Gurmukhi"), (0x0A80, 0x0AFF, "Gujarati"),
    (0x0B00, 0x0B7F, "Oriya"), (0x0B80, 0x0BFF, "Tamil"), (0x0C00, 0x0C7F, "Telugu"),
    (0x0C80, 0x0CFF, "Kannada"), (0x0D00, 0x0D7F, "Malayalam"), (0x0D80, 0x0DFF, "Sinhala"),
    (0x0E00, 0x0E7F, "Thai"), (0x0E80, 0x0EFF, "Lao"), (0x0F00, 0x0FFF, "Tibetan"),
    (0x1000, 0x109F, "Myanmar"), (0x10A0, 0x10FF, "Georgian"), (0x1100, 0x11FF, "Hangul"),
    (0x1200, 0x139F, "Ethiopic"), (0x13A0, 0x13FF, "Cherokee"),
    (0x1400, 0x167F, "Canadian_Aboriginal"), (0x1780, 0x17FF, "Khmer"),
    (0x1800, 0x18AF, "Mongolian"), (0x1C80, 0x1C8F, "Cyrillic"), (0x1C90, 0x1CBF, "Georgian"),
    (0x1D00, 0x1D7F, "Latin"), (0x1E00, 0x1EFF, "Latin"), (0x1F00, 0x1FFF, "Greek"),
    (0x2C60, 0x2C7F, "Latin"), (0x2D00, 0x2D2F, "Georgian"), (0x2DE0, 0x2DFF, "Cyrillic"),
    (0x2E80, 0x2FDF, "Han"), (0x3005, 0x3005, "Han"), (0x3007, 0x3007, "Han"),
    (0x3021, 0x3029, "Han"), (0x3038, 0x303B, "Han"), (0x3041, 0x309F, "Hiragana"),
    (0x30A0, 0x30FF, "Katakana"), (0x3100, 0x312F, "Bopomofo"), (0x3130, 0x318F, "Hangul"),
    (0x31A0, 0x31BF, "Bopomofo"), (0x31F0, 0x31FF, "Katakana"), (0x3400, 0x4DBF, "Han"),
    (0x4E00, 0x9FFF, "Han"), (0xA640, 0xA69F, "Cyrillic"), (0xA720, 0xA7FF, "Latin"),
    (0xA960, 0xA97F, "Hangul"), (0xAB30, 0xAB6F, "Latin"), (0xAB70, 0xABBF, "Cherokee"),
    (0xAC00, 0xD7FF, "Hangul"), (0xF900, 0xFAFF, "Han"), (0xFB13, 0xFB17, "Armenian"),
    (0xFB1D, 0xFB4F, "Hebrew"), (0xFB50, 0xFDFF, "Arabic"), (0xFE70, 0xFEFF, "Arabic"),
    (0x20000, 0x3134F, "Han"),
)
_STARTS = [start for start, _end, _script in _RANGES]

_CJK_SETS = (
    frozenset({"Latin", "Han", "Hiragana", "Katakana"}),  # Japanese
    frozenset({"Latin", "Han", "Bopomofo"}),  # Chinese
    frozenset({"Latin", "Han", "Hangul"}),  # Korean
)


def script_of(char: str) -> str | None:
    """The script of ``char``; None for a character that belongs to none (digit, mark)."""
    if char.isascii() and not char.isalpha():
        return None
    index = bisect.bisect_right(_STARTS, ord(char)) - 1
    if index >= 0 and ord(char) <= _RANGES[index][1]:
        return _RANGES[index][2]
    if unicodedata.category(char).startswith("M"):
        return None  # combining marks take the script of the letter they follow
    return OTHER


def scripts_of(text: str) -> frozenset[str]:
    return frozenset(s for s in map(script_of, text) if s is not None)


def is_safe_mix(scripts: Iterable[str]) -> bool:
    """One script, or one of the Latin + CJK mixes that UTS #39 deems highly restrictive."""
    found = frozenset(scripts)
    return len(found) <= 1 or any(found <= allowed for allowed in _CJK_SETS)
