"""The built-in example fleet: the same commented inventory that `init` writes."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from umrunbook.inventory.load import parse_inventory
from umrunbook.inventory.model import Inventory

EXAMPLE_NAME = "inventory.yaml"


def example_text() -> str:
    return resources.files("umrunbook.inventory.examples").joinpath(EXAMPLE_NAME).read_text("utf-8")


def example_inventory() -> Inventory:
    return parse_inventory(example_text(), Path("example-inventory.yaml"))
