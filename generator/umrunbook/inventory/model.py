"""The inventory as typed, immutable data: built once by loading, never changed afterwards."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from umrunbook.inventory.hostkeys import HostKey
from umrunbook.versions import Version


class Lines(Mapping[str, int]):
    """Where each field was written: a read-only mapping that also pickles (for --jobs)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, int] | None = None) -> None:
        self._items = dict(items or {})

    def __getitem__(self, key: str) -> int:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Lines({self._items!r})"

    def __reduce__(self) -> tuple[type[Lines], tuple[dict[str, int]]]:
        return (Lines, (self._items,))


def _no_lines() -> Mapping[str, int]:
    return Lines()


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


@dataclass(frozen=True, slots=True)
class Change:
    ticket: str
    window: Window
    implementer: str
    approver: str | None = None


@dataclass(frozen=True, slots=True)
class BundleSpec:
    """What the inventory says of one upgrade's files; the catalogue names the rest."""

    sha256: str | None = None  # required for a .shar; for an ISO, checked where given
    file: str | None = None  # None: the catalogue's name for the target
    local_path: str | None = None
    build: str | None = None  # an ISO bundle's build number, part of its file names
    local_folder: str | None = None  # where the workstation keeps an ISO bundle's files
    line: int = 0


@dataclass(frozen=True, slots=True)
class Upgrade:
    target: str
    bundle: BundleSpec  # the target's
    hops: tuple[tuple[str, BundleSpec], ...] = ()  # upgrade.bundles: the intermediate targets'
    # upgrade.via: the stops the route must take, in order ("" none: the planner chooses)
    via: tuple[str, ...] = ()

    def bundle_for(self, target: str) -> BundleSpec | None:
        """The bundle of an upgrade to `target`: `upgrade.bundle` for `upgrade.target`,
        `upgrade.bundles[target]` for any other (a stop of a route, an appliance's own target)."""
        wanted = Version.parse(target)
        if Version.parse(self.target) == wanted:
            return self.bundle
        for version, spec in self.hops:
            if Version.parse(version) == wanted:
                return spec
        return None

    def bundle_field(self, target: str) -> str:
        """Where the inventory writes the bundle of an upgrade to `target`."""
        if Version.parse(self.target) == Version.parse(target):
            return "upgrade.bundle"
        return f"upgrade.bundles.{target}"


@dataclass(frozen=True, slots=True)
class Transfer:
    protocol: str = "sftp"


@dataclass(frozen=True, slots=True)
class Appliance:
    name: str
    host: str
    version: Version
    ssh_port: int = 22
    ssh_host_key: HostKey | None = None
    snapshot: str | None = None
    metered_servers: tuple[str, ...] = ()
    notes: str | None = None
    proxy: str | None = None  # host:port of the site's proxy, for targets whose procedure sets it
    target: str | None = None  # this appliance's own target; None: upgrade.target
    # Where the appliance and each of its fields were written: errors found later
    # (by planning) still name the file and line.
    source: str = ""
    line: int = 0
    lines: Mapping[str, int] = field(default_factory=_no_lines, compare=False)


@dataclass(frozen=True, slots=True)
class Inventory:
    path: str
    change: Change
    upgrade: Upgrade
    transfer: Transfer
    appliances: tuple[Appliance, ...]
    lines: Mapping[str, int] = field(default_factory=_no_lines, compare=False)

    def appliance(self, name: str) -> Appliance | None:
        for appliance in self.appliances:
            if appliance.name.lower() == name.lower():
                return appliance
        return None
