"""Templates are package data (`umrunbook.templates`), read through importlib.resources so
that a wheel, an editable install and the single-file binary all find them."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from importlib import resources
from importlib.abc import Traversable
from typing import Any

from jinja2 import BaseLoader, Environment, StrictUndefined, TemplateNotFound


def _template(name: str) -> Traversable:
    # One segment at a time: some resource readers (PyInstaller's, namespace packages)
    # take a single name per joinpath.
    entry = resources.files("umrunbook.templates")
    for part in name.split("/"):
        entry = entry / part
    return entry


class _PackageLoader(BaseLoader):
    def get_source(self, environment: Environment, template: str) -> tuple[str, str, None]:
        entry = _template(template)
        if not entry.is_file():
            raise TemplateNotFound(template)
        return entry.read_text("utf-8"), template, None


def template_loader() -> BaseLoader:
    return _PackageLoader()


def read_template(name: str) -> str:
    return _template(name).read_text("utf-8")


def text_environment(finalize: Callable[[Any], Any]) -> Environment:
    """A Jinja2 environment for a text format (Markdown, shell, WinSCP): no HTML escaping;
    `finalize` is that format's escaping of every printed value, so none is forgotten."""
    return Environment(
        loader=template_loader(),
        finalize=finalize,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def csp_hash(text: str) -> str:
    """The Content-Security-Policy source that allows exactly this inline style or script."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"
