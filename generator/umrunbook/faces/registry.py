"""The document faces of a runbook, by format: `--format`, its help text, the index's links
and the package's file names all come from this one list.

A face is named here by module and function and imported only when its format is asked for,
so that a command that makes no PDF never loads the PDF engine. No face imports another face
or the package that calls them: what they share (the options, the templates) lives below them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Protocol, cast

from umrunbook.errors import UserError

if TYPE_CHECKING:
    from umrunbook.faces.view import RunbookView


class DocumentRenderer(Protocol):
    """One face: the runbook's view (faces/view.py, built once per plan) as one file's bytes;
    a view built with records gives the as-executed runbook."""

    def __call__(self, view: RunbookView, options: RenderOptions) -> bytes: ...


@dataclass(frozen=True, slots=True)
class DocumentFace:
    name: str  # the --format name, and the file's extension
    label: str  # as the fleet index names it
    module: str
    function: str

    def renderer(self) -> DocumentRenderer:
        return cast(DocumentRenderer, getattr(import_module(self.module), self.function))


FACES = (
    DocumentFace("md", "Markdown", "umrunbook.faces.markdown", "markdown_document"),
    DocumentFace("html", "HTML", "umrunbook.faces.html", "render_html"),
    DocumentFace("pdf", "PDF", "umrunbook.faces.pdf", "render_pdf"),
)
FORMATS = tuple(face.name for face in FACES)
# The index links first the document one opens first.
LINK_ORDER = ("html", "pdf", "md")
PAPERS = ("a4", "letter")


@dataclass(frozen=True, slots=True)
class RenderOptions:
    formats: tuple[str, ...] = FORMATS
    paper: str = "a4"


def face(name: str) -> DocumentFace:
    for candidate in FACES:
        if candidate.name == name:
            return candidate
    raise UserError(f"--format {name!r}: unknown format; choose among {', '.join(FORMATS)}")


def formats_help(what: str = "Comma-separated") -> str:
    return f"{what}: {', '.join(FORMATS)}."


def parse_formats(text: str) -> tuple[str, ...]:
    """`md,pdf` -> ("md", "pdf"); anything unknown is a usage error naming the known ones."""
    chosen = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    if not chosen or any(f not in FORMATS for f in chosen):
        raise UserError(
            f"--format {text!r}: choose among {', '.join(FORMATS)}, separated by commas "
            "(for example --format md,pdf)"
        )
    return chosen


def parse_paper(text: str) -> str:
    if text.lower() not in PAPERS:
        raise UserError(f"--paper {text!r}: choose {' or '.join(PAPERS)}")
    return text.lower()


def document_links(kinds: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """(file name, label) of every document the index may link, for each (stem, title):
    ("runbook", "Runbook") -> ("runbook.html", "Runbook (HTML)"), ..."""
    by_name = {f.name: f for f in FACES}
    return tuple(
        (f"{stem}.{name}", f"{title} ({by_name[name].label})")
        for stem, title in kinds
        for name in LINK_ORDER
    )
