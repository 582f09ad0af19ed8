"""Templates are package data (`umrunbook.templates`), read through importlib.resources so
that a wheel, an editable install and the single-file binary all find them."""

from __future__ import annotations

from importlib import resources

from jinja2 import BaseLoader, Environment, TemplateNotFound


class _PackageLoader(BaseLoader):
    def get_source(self, environment: Environment, template: str) -> tuple[str, str, None]:
        entry = resources.files("umrunbook.templates").joinpath(*template.split("/"))
        if not entry.is_file():
            raise TemplateNotFound(template)
        return entry.read_text("utf-8"), template, None


def template_loader() -> BaseLoader:
    return _PackageLoader()


def read_template(name: str) -> str:
    return resources.files("umrunbook.templates").joinpath(*name.split("/")).read_text("utf-8")
