"""One family of errors written for the user; the CLI turns them into messages and exit codes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


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
        text = f"{where}: {self.field}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


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
