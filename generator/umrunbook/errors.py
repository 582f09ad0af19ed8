"""One family of errors written for the user; the CLI turns them into messages and exit codes."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# Categories that are shown escaped, never sent to a terminal: controls (C0, C1), format
# characters (bidi overrides, zero-width), surrogates, private use, unassigned, and the
# line and paragraph separators. Letters of any script pass as they are.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def printable(text: str, *, newlines: bool = True) -> str:
    """`text` safe to print: every control or invisible character shown as an escape
    (ESC as \\x1b, U+202E as \\u202e), so a value read from a file can never move the
    cursor, recolour the terminal, reorder the line or add a line of its own.
    New lines are kept unless `newlines` is false: messages are several lines by design,
    the values in them never are."""
    if text.isascii() and text.isprintable():
        return text
    out = []
    for char in text:
        if (char == "\n" and newlines) or unicodedata.category(char) not in _HIDDEN:
            out.append(char)
        else:
            out.append(_escape(ord(char)))
    return "".join(out)


def _escape(code: int) -> str:
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input, with its place and the way to fix it."""

    file: str
    line: int | None
    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        # Every part may hold text from the input (a quoted YAML key, a CSV header cell):
        # one line each, escaped.
        text = f"{where}: {self.field}: {self.message}".replace("\n", " ")
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return printable(text)


class UserError(Exception):
    """An error the user can fix; its message is printed as is. Exit code 2 by default."""

    exit_code = 2


class InputError(UserError, ValueError):
    """Invalid input: carries every problem found, so all are reported at once."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class OutputError(UserError, OSError):
    """The output could not be written; earlier output is untouched."""

    exit_code = 1


INTERRUPTED_BEFORE = "interrupted; the previous package is unchanged"
INTERRUPTED_NOTHING = "interrupted; nothing was written."
INTERRUPTED_AFTER = "interrupted after the new package was in place; it is complete"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM, with what it left behind said in `message`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
