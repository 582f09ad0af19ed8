"""Shared by the HTML, PDF and index tests: an inventory whose free text tries to be markup,
a route of two upgrades, the real command line, and a small reader of the HTML we write."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path

from tests.conftest import ROOT, umrunbook
from tests.helpers import NOW, example_plans, example_with, inventory_text
from umrunbook.catalogue.procedure import Reference, load_catalogue
from umrunbook.planning.bind import plan_fleet
from umrunbook.planning.plan import Plan

__all__ = ["NOW", "example_plans"]  # re-exported: the faces' tests take them from here too

NODE_DIR = ROOT / "tests" / "node"

# Free text that would be markup in HTML, Typst, Markdown or Jinja if it were ever taken as such.
HOSTILE_LINES = (
    "<script>alert(1)</script> & <b>not bold</b>",
    "#set page(width: 1cm) $x$ *bold* _under_ `tick` @ref <lbl> // c /* c */ \\ #{1+1}",
    '{{ 7*7 }} {% raw %} [link](javascript:alert(2)) "quoted" ~~del~~',
)


def _hostile_notes() -> str:
    return "\n".join(["|", *(f"      {line}" for line in HOSTILE_LINES)])


def hostile_inventory_text() -> str:
    """The example inventory, um-ams-01's notes replaced by the hostile lines."""
    return inventory_text(appliances={"um-ams-01": {"notes": _hostile_notes()}})


def hostile_plans() -> tuple[Plan, ...]:
    inventory = example_with(appliances={"um-ams-01": {"notes": _hostile_notes()}})
    return plan_fleet(inventory, load_catalogue(), NOW)


def multi_hop_plan() -> Plan:
    """um-fra-01 taken to 4.3 in two upgrades, 4.1 -> 4.2 -> 4.3, one step a field report.

    The catalogue has a direct path today; the route is put together from two real plans so
    that every face is tried on the shape a route of several hops gives the runbook.
    """
    older = example_with(upgrade={"target": '"4.2"'}, only=("um-fra-01",))
    (first,) = plan_fleet(older, load_catalogue(), NOW)
    (last,) = [p for p in example_plans() if p.appliance.name == first.appliance.name]
    hop1, hop2 = first.hops[0], last.hops[0]
    field_step = replace(hop2.steps[0], source=Reference("FR1", "field", "A field report", ""))
    hop2 = replace(
        hop2,
        source_version=hop1.target_version,
        steps=(field_step, *hop2.steps[1:]),
        folder="hop-2-4.3/",
    )
    return replace(last, hops=(replace(hop1, folder="hop-1-4.2/"), hop2))


def render_package(out: Path, *args: str) -> Path:
    """The hostile inventory rendered by the real command line into `out`."""
    inventory = out.parent / "hostile.yaml"
    inventory.write_text(hostile_inventory_text(), encoding="utf-8")
    result = umrunbook(["render", str(inventory), "--out", str(out), *args])
    assert result.returncode == 0, result.stderr
    return out


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None
    children: list[Element | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def ancestors(self) -> list[Element]:
        found, node = [], self.parent
        while node is not None:
            found.append(node)
            node = node.parent
        return found

    def iter(self, tag: str | None = None, cls: str | None = None) -> list[Element]:
        found: list[Element] = []
        for child in self.children:
            if isinstance(child, Element):
                if (tag is None or child.tag == tag) and (cls is None or cls in child.classes()):
                    found.append(child)
                found.extend(child.iter(tag, cls))
        return found


VOID = {"meta", "input", "br", "hr", "img", "link", "source", "wbr", "col", "area", "base"}


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {}, None)
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Element(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Element | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None and node.parent is not None, f"stray </{tag}>"
        self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse_html(text: str) -> Element:
    builder = _Builder()
    builder.feed(text)
    builder.close()
    assert builder.current is builder.root, f"unclosed <{builder.current.tag}>"
    return builder.root
