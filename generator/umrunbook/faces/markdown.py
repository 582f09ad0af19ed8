"""The Markdown face: the runbook's view as CommonMark text (faces/commonmark.py), as a file."""

from __future__ import annotations

from umrunbook.faces.commonmark import md_escape, render_markdown, render_view
from umrunbook.faces.registry import RenderOptions
from umrunbook.faces.view import RunbookView

__all__ = ["markdown_document", "md_escape", "render_markdown"]


def markdown_document(view: RunbookView, options: RenderOptions) -> bytes:
    return render_view(view).encode("utf-8")
