"""Which characters the documents can show. The PDF runbook is PDF/A, which forbids text
without a glyph, and it uses only the fonts built into its engine and those umrunbook ships
(typesetting.py): a character none of them holds would fail the PDF inside the window.
`check` asks the engine itself, once per set of characters, so that what it accepts every
face renders."""

from __future__ import annotations

import re
from functools import cache

from umrunbook import typesetting
from umrunbook.errors import printable

# Latin (with Latin-1 and Latin Extended-A and -B): the fonts hold all of it (a test asks the
# engine), so the common case never starts it.
_SHOWN_WITHOUT_ASKING = 0x0250
_PROBE = (
    b"#for c in sys.inputs.chars.clusters() [#c #parbreak()]\n"
    b'#text(font: ("DejaVu Sans Mono", "WenQuanYi Micro Hei Mono"))[#sys.inputs.chars]\n'
)
_MISSING = re.compile(r'the text `"(.+?)"` could not be displayed')


# What the engine said of each character it was asked about: True, shown. A fleet of
# thousands of names in one script asks it once for the script's letters, not once a row.
_SHOWN: dict[str, bool] = {}


def first_undisplayable(value: str) -> int | None:
    """The index of the first character of `value` that no font of the PDF holds, or None."""
    asked = frozenset(c for c in value if ord(c) >= _SHOWN_WITHOUT_ASKING and not c.isspace())
    if not asked:
        return None
    new = asked.difference(_SHOWN)
    if new:
        missing = _missing("".join(sorted(new)))
        _SHOWN.update((char, char not in missing) for char in new)
    for index, char in enumerate(value):
        if char in asked and not _SHOWN[char]:
            return index
    return None


def shown(value: str) -> str:
    """`value` as every face can show it: controls escaped (errors.printable), and each
    character no font of the PDF holds written as its code point (U+1F600). For text that
    `check` never saw, such as the initials typed into the HTML page: one odd character must
    not cost the as-executed runbook."""
    value = printable(value, newlines=False)
    while (index := first_undisplayable(value)) is not None:
        value = f"{value[:index]}U+{ord(value[index]):04X}{value[index + 1 :]}"
    return value


@cache
def _missing(chars: str) -> frozenset[str]:
    from umrunbook.engine import make_typst_importable

    make_typst_importable()
    import typst

    try:
        typesetting.compile_pdf(_PROBE, {"chars": chars})
    except typst.TypstError as exc:
        found = _MISSING.findall(f"{exc.message}\n{exc.diagnostic}")
        if not found:
            raise
        return frozenset("".join(found))
    return frozenset()
