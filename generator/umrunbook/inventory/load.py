"""Load an inventory (YAML, with appliances inline or in a CSV file) into the typed model.

Strict: unknown keys are errors, and every problem is collected and reported at once, each
with its file, line and field. Within one appliance a field that failed is left out rather
than guessed, so it does not cause knock-on errors.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from umrunbook.errors import InputError, Problem
from umrunbook.inventory import fields
from umrunbook.inventory.fields import Invalid
from umrunbook.inventory.files import NotRegularFile, TooLarge, read_bounded
from umrunbook.inventory.model import (
    Appliance,
    BundleSpec,
    Change,
    Inventory,
    Lines,
    Transfer,
    Upgrade,
    Window,
)
from umrunbook.inventory.yamlsource import Map, Node, Scalar, Seq, YamlError, parse_yaml
from umrunbook.versions import Version

APPLIANCE_KEYS = (
    "name",
    "host",
    "version",
    "ssh_port",
    "ssh_host_key",
    "snapshot",
    "metered_servers",
    "notes",
    "proxy",
    "target",
)
_REQUIRED_APPLIANCE_KEYS = ("name", "host", "version")
_SECRET_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "credential",
    "private_key",
    "api_key",
    "apikey",
)
_SECRET_HINT = (
    "passwords and secrets never go into the inventory: the operator types the root "
    "password at the prompt; remove this key and its value"
)
# The VCF access token (4.8 -> 9.x) is a secret like a password, and has its own place: the
# prompt of the vendor's upgrade-um.sh.
_TOKEN_HINT = (
    "the VCF access token (it starts with UMA) never goes into the inventory: prepare it in the "
    "VCF Business Services console before the window and type it at upgrade-um.sh's prompt; "
    "remove this key and its value"
)
MAX_INVENTORY_BYTES = 20 * 1024 * 1024
_PLAIN_COLUMN = re.compile(r"[A-Za-z0-9_ .-]{1,40}")

T = TypeVar("T")


def load_inventory(path: str | Path) -> Inventory:
    """Read and validate an inventory file; InputError lists every problem found."""
    path = Path(path)
    return parse_inventory(read_text_file(path, "inventory"), path)


def parse_inventory(text: str, path: Path) -> Inventory:
    """Validate an inventory's text; `path` names it in errors and anchors a CSV's path."""
    try:
        tree = parse_yaml(text)
    except YamlError as exc:
        raise InputError(
            [
                Problem(
                    str(path),
                    exc.line,
                    "inventory",
                    exc.message,
                    "fix the YAML syntax at that line",
                )
            ]
        ) from None
    reader = _Reader(str(path))
    inventory = reader.inventory(tree, path)
    if reader.problems or inventory is None:
        raise InputError(reader.problems)
    return inventory


def read_text_file(path: Path, what: str) -> str:
    """A UTF-8 text file's content (BOM stripped), or InputError naming what is wrong."""
    name = str(path)
    try:
        data = read_bounded(path, MAX_INVENTORY_BYTES)
    except TooLarge:
        raise InputError(
            [
                Problem(
                    name,
                    None,
                    what,
                    f"is larger than {MAX_INVENTORY_BYTES} bytes",
                    "an inventory is a text file of a few kilobytes",
                )
            ]
        ) from None
    except NotRegularFile:
        raise InputError(
            [
                Problem(
                    name,
                    None,
                    what,
                    "is not a regular file (a device, a pipe or a socket)",
                    "give the path of a text file",
                )
            ]
        ) from None
    except FileNotFoundError:
        problem = "no such file"
        hint = f"check the path, or run `umrunbook init {name}` to write an example"
        raise InputError([Problem(name, None, what, problem, hint)]) from None
    except IsADirectoryError:
        raise InputError(
            [
                Problem(
                    name, None, what, "is a folder, not a file", "give the path of the file itself"
                )
            ]
        ) from None
    except OSError as exc:
        raise InputError(
            [
                Problem(
                    name,
                    None,
                    what,
                    f"cannot be read: {exc.strerror}",
                    "check the file's permissions",
                )
            ]
        ) from None
    if b"\x00" in data:
        raise InputError(
            [Problem(name, None, what, "is a binary file, not text", "save it as UTF-8 text")]
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            [
                Problem(
                    name,
                    line,
                    what,
                    "is not UTF-8 text",
                    "save the file as UTF-8 (spreadsheets: 'CSV UTF-8')",
                )
            ]
        ) from None
    if not text.strip():
        raise InputError(
            [Problem(name, None, what, "is empty", "run `umrunbook init` for a commented example")]
        )
    return text


@dataclass
class _Reader:
    file: str
    problems: list[Problem] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)

    def problem(self, line: int | None, where: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(self.file, line, where, message, hint))

    # -- structure ------------------------------------------------------------------------

    def mapping(
        self,
        node: Node | None,
        where: str,
        line: int,
        allowed: tuple[str, ...],
        required: tuple[str, ...],
    ) -> Map | None:
        if not isinstance(node, Map):
            self.problem(
                getattr(node, "line", line),
                where,
                f"expected a mapping of {', '.join(allowed)}, got {_kind(node)}",
            )
            return None
        for key, (key_line, _value) in node.entries.items():
            if key not in allowed:
                self.problem(
                    key_line,
                    f"{where}.{key}" if where else key,
                    _unknown_key_message("key", key),
                    _unknown_key_hint(key, allowed),
                )
        for key in required:
            if key not in node.entries or _is_null(node.entries[key][1]):
                self.problem(
                    node.line,
                    f"{where}.{key}" if where else key,
                    "is required",
                    f"add `{key}:` under `{where or 'the top level'}`",
                )
        return node

    def value(self, node: Map, key: str, where: str, check: Callable[[str], T]) -> T | None:
        """The checked value of a scalar key, None when absent or invalid (problem recorded)."""
        entry = node.entries.get(key)
        if entry is None or _is_null(entry[1]):
            return None
        _key_line, value = entry
        name = f"{where}.{key}" if where else key
        self.lines[name] = value.line
        if not isinstance(value, Scalar):
            self.problem(value.line, name, f"expected a single value, got {_kind(value)}")
            return None
        try:
            return check(value.text)
        except Invalid as exc:
            self.problem(value.line, name, exc.message, exc.hint)
            return None

    # -- sections -------------------------------------------------------------------------

    def inventory(self, tree: Node | None, path: Path) -> Inventory | None:
        top = self.mapping(
            tree,
            "",
            1,
            ("change", "upgrade", "transfer", "appliances"),
            ("change", "upgrade", "appliances"),
        )
        if top is None:
            return None
        change = self.change(top)
        upgrade = self.upgrade(top)
        transfer = self.transfer(top)
        appliances = self.appliances(top, path)
        if change is None or upgrade is None or transfer is None or appliances is None:
            return None
        return Inventory(str(path), change, upgrade, transfer, appliances, Lines(self.lines))

    def change(self, top: Map) -> Change | None:
        entry = top.entries.get("change")
        if entry is None:
            return None
        node = self.mapping(
            entry[1],
            "change",
            entry[0],
            ("ticket", "window", "implementer", "approver"),
            ("ticket", "window", "implementer"),
        )
        if node is None:
            return None
        ticket = self.value(node, "ticket", "change", fields.ticket)
        implementer = self.value(node, "implementer", "change", fields.text_line)
        approver = self.value(node, "approver", "change", fields.text_line)
        window = self.window(node)
        if ticket is None or implementer is None or window is None:
            return None
        return Change(ticket, window, implementer, approver)

    def window(self, change: Map) -> Window | None:
        entry = change.entries.get("window")
        if entry is None:
            return None
        node = self.mapping(entry[1], "change.window", entry[0], ("start", "end"), ("start", "end"))
        if node is None:
            return None
        start = self.value(node, "start", "change.window", fields.timestamp)
        end = self.value(node, "end", "change.window", fields.timestamp)
        if start is None or end is None:
            return None
        if end <= start:
            self.problem(
                self.lines.get("change.window.end"),
                "change.window.end",
                f"the window ends ({end.isoformat()}) before it starts ({start.isoformat()})",
                "check the date and the UTC offset of both times",
            )
            return None
        return Window(start, end)

    def upgrade(self, top: Map) -> Upgrade | None:
        entry = top.entries.get("upgrade")
        if entry is None:
            return None
        node = self.mapping(
            entry[1],
            "upgrade",
            entry[0],
            ("target", "bundle", "bundles", "via"),
            ("target", "bundle"),
        )
        if node is None:
            return None
        target = self.value(node, "target", "upgrade", fields.text_line)
        bundle_entry = node.entries.get("bundle")
        bundle = None
        if bundle_entry is not None:
            bundle = self.bundle(bundle_entry[1], "upgrade.bundle", bundle_entry[0])
        hops: list[tuple[str, BundleSpec]] = []
        hops_entry = node.entries.get("bundles")
        failed = False
        if hops_entry is not None and not _is_null(hops_entry[1]):
            hops_node = hops_entry[1]
            if not isinstance(hops_node, Map):
                self.problem(
                    hops_node.line,
                    "upgrade.bundles",
                    f"expected a mapping of target versions to bundles, got {_kind(hops_node)}",
                    'write `"4.3": {sha256: ...}` for each intermediate version',
                )
                failed = True
            else:
                for key, (key_line, value) in hops_node.entries.items():
                    where = f"upgrade.bundles.{key}"
                    if _is_secret(key):
                        self.problem(
                            key_line, where, _unknown_key_message("key", key), _secret_hint(key)
                        )
                        failed = True
                        continue
                    try:
                        fields.version(key)
                    except Invalid as exc:
                        self.problem(
                            key_line,
                            where,
                            exc.message,
                            'name each bundle by its target version, e.g. "4.3"',
                        )
                        failed = True
                        continue
                    if target is not None and _same_version(key, target):
                        # Never read: upgrade.bundle is the bundle of upgrade.target.
                        self.problem(
                            key_line,
                            where,
                            f"the bundle of upgrade.target ({target}) goes in upgrade.bundle; "
                            "this entry would never be read",
                            "move its values to upgrade.bundle and remove this entry",
                        )
                        failed = True
                        continue
                    spec = self.bundle(value, where, key_line)
                    if spec is None:
                        failed = True
                    else:
                        hops.append((key, spec))
        via = self.via(node)
        if target is None or bundle is None or failed or via is None:
            return None
        return Upgrade(target, bundle, tuple(hops), via)

    def via(self, node: Map) -> tuple[str, ...] | None:
        """upgrade.via: the stops a route must take, each a version; None when invalid.

        Whether they make a route is planning's to say: it knows the catalogue."""
        entry = node.entries.get("via")
        if entry is None or _is_null(entry[1]):
            return ()
        value = entry[1]
        self.lines["upgrade.via"] = value.line
        items = value.items if isinstance(value, Seq) else (value,)
        stops: list[str] = []
        for item in items:
            if not isinstance(item, Scalar) or item.null:
                self.problem(
                    item.line,
                    "upgrade.via",
                    f"expected a version, got {_kind(item)}",
                    'list the versions to upgrade through, e.g. via: ["4.5"]',
                )
                return None
            try:
                stops.append(fields.version(item.text).short)
            except Invalid as exc:
                self.problem(
                    item.line,
                    "upgrade.via",
                    exc.message,
                    'list the versions to upgrade through, e.g. via: ["4.5"]',
                )
                return None
        return tuple(stops)

    def bundle(self, node: Node, where: str, line: int) -> BundleSpec | None:
        """One upgrade's files: a .shar with its SHA-256, or an ISO set named by its build."""
        mapping = self.mapping(
            node, where, line, ("file", "sha256", "local_path", "build", "local_folder"), ()
        )
        if mapping is None:
            return None
        before = len(self.problems)
        spec = BundleSpec(
            sha256=self.value(mapping, "sha256", where, fields.sha256),
            file=self.value(mapping, "file", where, fields.file_name),
            local_path=self.value(mapping, "local_path", where, fields.workstation_path),
            build=self.value(mapping, "build", where, fields.build),
            local_folder=self.value(mapping, "local_folder", where, fields.workstation_path),
            line=mapping.line,
        )
        return spec if len(self.problems) == before else None

    def transfer(self, top: Map) -> Transfer | None:
        entry = top.entries.get("transfer")
        if entry is None or _is_null(entry[1]):
            return Transfer()
        node = self.mapping(entry[1], "transfer", entry[0], ("protocol",), ())
        if node is None:
            return None
        protocol = self.value(
            node, "protocol", "transfer", lambda v: fields.choice(v, ("sftp", "scp"))
        )
        if "protocol" in node.entries and protocol is None:
            return None
        return Transfer(protocol or "sftp")

    # -- appliances -----------------------------------------------------------------------

    def appliances(self, top: Map, path: Path) -> tuple[Appliance, ...] | None:
        entry = top.entries.get("appliances")
        if entry is None:
            return None
        node = entry[1]
        if isinstance(node, Scalar) and not node.null:
            return self.csv_appliances(path.parent / node.text, node.line)
        if not isinstance(node, Seq) or not node.items:
            self.problem(
                node.line,
                "appliances",
                "expected a list of appliances or the path of a CSV file",
                "write `- name: ...` entries, or `appliances: fleet.csv`",
            )
            return None
        found: list[Appliance] = []
        for index, item in enumerate(node.items):
            where = f"appliances[{index}]"
            mapping = self.mapping(item, where, item.line, APPLIANCE_KEYS, _REQUIRED_APPLIANCE_KEYS)
            if mapping is None:
                continue
            raw = {
                key: value
                for key, (_line, value) in mapping.entries.items()
                if key in APPLIANCE_KEYS and not _is_null(value)
            }
            appliance = self.appliance(raw, where, self.file, item.line)
            if appliance is not None:
                found.append(appliance)
        return self.unique(found)

    def csv_appliances(self, csv_path: Path, line: int) -> tuple[Appliance, ...] | None:
        try:
            text = read_text_file(csv_path, "appliances")
        except InputError as exc:
            self.problems.extend(exc.problems)
            return None
        csv_reader = _CsvReader(str(csv_path), self)
        return self.unique(list(csv_reader.rows(text)))

    def appliance(self, raw: dict[str, Node], where: str, file: str, line: int) -> Appliance | None:
        lines: dict[str, int] = {}
        values: dict[str, Any] = {}
        failed = False
        checks: dict[str, Callable[[str], Any]] = {
            "name": fields.label,
            "host": fields.host,
            "version": fields.version,
            "ssh_port": fields.port,
            "ssh_host_key": fields.host_key,
            "snapshot": fields.text_line,
            "notes": fields.free_text,
            "proxy": fields.proxy,
            "target": fields.text_line,  # whether the catalogue has it is planning's to say
        }
        for key, node in raw.items():
            lines[key] = node.line
            name = f"{where}.{key}" if where else key
            if key == "metered_servers":
                servers = self.servers(node, name, file)
                failed |= servers is None
                values[key] = servers or ()
                continue
            if not isinstance(node, Scalar):
                self.problems.append(
                    Problem(file, node.line, name, f"expected a single value, got {_kind(node)}")
                )
                failed = True
                continue
            try:
                values[key] = checks[key](node.text)
            except Invalid as exc:
                self.problems.append(Problem(file, node.line, name, exc.message, exc.hint))
                failed = True
        if failed or any(key not in values for key in _REQUIRED_APPLIANCE_KEYS):
            return None
        return Appliance(**values, source=file, line=line, lines=Lines(lines))

    def servers(self, node: Node, where: str, file: str) -> tuple[str, ...] | None:
        items: list[tuple[str, int]]
        if isinstance(node, Scalar):
            items = [(part, node.line) for part in node.text.split(";") if part.strip()]
        elif isinstance(node, Seq):
            items = []
            for item in node.items:
                if not isinstance(item, Scalar):
                    self.problems.append(
                        Problem(file, item.line, where, f"expected a host name, got {_kind(item)}")
                    )
                    return None
                items.append((item.text, item.line))
        else:
            self.problems.append(Problem(file, node.line, where, "expected a list of host names"))
            return None
        servers: list[str] = []
        for text, line in items:
            try:
                servers.append(fields.host(text))
            except Invalid as exc:
                self.problems.append(Problem(file, line, where, exc.message, exc.hint))
                return None
        return tuple(servers)

    def unique(self, appliances: list[Appliance]) -> tuple[Appliance, ...] | None:
        seen: dict[str, Appliance] = {}
        for appliance in appliances:
            key = appliance.name.lower()
            if key in seen:
                first = seen[key]
                self.problems.append(
                    Problem(
                        appliance.source,
                        appliance.lines.get("name", appliance.line),
                        "name",
                        f"duplicate name {appliance.name!r} "
                        f"(first at {first.source}:{first.lines.get('name', first.line)})",
                        "every appliance needs its own name: its files are written under it",
                    )
                )
            else:
                seen[key] = appliance
        if not appliances:
            return None
        return tuple(appliances)


class _CsvReader:
    """Appliance rows from a CSV export: a header row of appliance keys, empty cell = absent."""

    def __init__(self, file: str, reader: _Reader) -> None:
        self.file = file
        self.reader = reader

    def rows(self, text: str) -> Iterator[Appliance]:
        rows = csv.reader(io.StringIO(text, newline=""), strict=True)
        try:
            header = next(rows)
        except (StopIteration, csv.Error):
            self.reader.problems.append(
                Problem(self.file, 1, "header", "no header row", "the first row names the columns")
            )
            return
        columns = [name.strip() for name in header]
        if not any(column in APPLIANCE_KEYS for column in columns):
            # Not the CSV at all (a wrong path, /etc/shadow): its first line is never shown.
            self.reader.problems.append(
                Problem(
                    self.file,
                    1,
                    "header",
                    "does not read as an appliances CSV: its first row names none of the "
                    f"columns {', '.join(APPLIANCE_KEYS)}",
                    "check the path in `appliances:`; the CSV's first row names the columns, "
                    "e.g. name,host,version",
                )
            )
            return
        bad = False
        seen: dict[str, int] = {}
        for number, column in enumerate(columns, 1):
            if column in APPLIANCE_KEYS:
                if column in seen:
                    self.reader.problems.append(
                        Problem(
                            self.file,
                            1,
                            column,
                            f"the column {column!r} appears twice (columns {seen[column]} and "
                            f"{number})",
                            "keep one column of each name: of two, one value would be lost",
                        )
                    )
                    bad = True
                seen.setdefault(column, number)
                continue
            # An unknown header cell is named only in a short, plain form.
            shown = column if _PLAIN_COLUMN.fullmatch(column) else f"column {number}"
            self.reader.problems.append(
                Problem(
                    self.file,
                    1,
                    shown if column else "header",
                    _unknown_key_message("column", shown)
                    if column
                    else f"column {number} has no name",
                    _unknown_key_hint(column, APPLIANCE_KEYS),
                )
            )
            bad = True
        for required in _REQUIRED_APPLIANCE_KEYS:
            if required not in columns:
                self.reader.problems.append(
                    Problem(
                        self.file,
                        1,
                        required,
                        "required column is missing",
                        f"add a column named {required!r}",
                    )
                )
                bad = True
        if bad:
            return
        count = 0
        try:
            for row in rows:
                line = rows.line_num
                if not any(cell.strip() for cell in row):
                    continue
                count += 1
                if len(row) > len(columns):
                    self.reader.problems.append(
                        Problem(
                            self.file,
                            line,
                            "row",
                            f"has {len(row)} cells but the header names {len(columns)} columns",
                            "check for a stray separator; quote cells that hold commas",
                        )
                    )
                    continue
                raw: dict[str, Node] = {
                    column: Scalar(cell, line, False)
                    for column, cell in zip(columns, row, strict=False)
                    if cell.strip()
                }
                missing = [key for key in _REQUIRED_APPLIANCE_KEYS if key not in raw]
                for key in missing:
                    self.reader.problems.append(
                        Problem(self.file, line, key, "is empty", f"fill in the {key}")
                    )
                if missing:
                    continue
                appliance = self.reader.appliance(raw, "", self.file, line)
                if appliance is not None:
                    yield appliance
        except csv.Error as exc:
            self.reader.problems.append(
                Problem(
                    self.file,
                    rows.line_num,
                    "row",
                    f"is not valid CSV: {exc}",
                    "check the quotes in that row",
                )
            )
        if count == 0:
            self.reader.problems.append(
                Problem(
                    self.file,
                    1,
                    "appliances",
                    "has no rows",
                    "add one row per appliance below the header",
                )
            )


def _is_null(node: Node) -> bool:
    return isinstance(node, Scalar) and node.null


def _kind(node: Node | None) -> str:
    if node is None or _is_null(node):
        return "nothing"
    return {Scalar: "a single value", Seq: "a list", Map: "a mapping"}[type(node)]


def _same_version(a: str, b: str) -> bool:
    try:
        return Version.parse(a) == Version.parse(b)
    except ValueError:
        return False


def _is_secret(key: str) -> bool:
    return any(word in key.lower().replace("-", "_") for word in _SECRET_WORDS)


def _secret_hint(key: str) -> str:
    return _TOKEN_HINT if "token" in key.lower() else _SECRET_HINT


def _unknown_key_message(kind: str, key: str) -> str:
    return f"unknown {kind} {key!r}"


def _unknown_key_hint(key: str, allowed: tuple[str, ...]) -> str:
    if _is_secret(key):
        return _secret_hint(key)
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"allowed here: {', '.join(allowed)}"
