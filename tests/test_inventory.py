"""Inventory loading through the library: valid input, the CSV form, and every bad input."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from umrunbook.errors import InputError
from umrunbook.inventory.example import example_text
from umrunbook.inventory.load import load_inventory

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICNP8KqokjuNoiuoVu5vMer+SR0pzsOgcK8FNRL1b/1Y"
SHA = "ab" * 32

HEAD = f"""\
change:
  ticket: CHG0000001
  window:
    start: 2026-12-05T22:00:00+01:00
    end: 2026-12-06T02:00:00+01:00
  implementer: Jane Operator
upgrade:
  target: "4.3"
  bundle:
    sha256: {SHA}
"""


def write(tmp_path: Path, text: str, name: str = "inventory.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_inventory(path)
    return [str(p) for p in caught.value.problems]


def test_the_example_loads_into_an_immutable_model(example_inventory_file: Path) -> None:
    inventory = load_inventory(example_inventory_file)
    assert inventory.change.ticket == "CHG0012345"
    assert [a.name for a in inventory.appliances] == ["um-ams-01", "um-ams-02", "um-fra-01"]
    first = inventory.appliances[0]
    assert first.metered_servers == (
        "vc01.corp.example",
        "vcd01.corp.example",
        "nsx01.corp.example",
    )
    assert first.ssh_host_key is not None and first.ssh_host_key.key_type == "ssh-ed25519"
    assert inventory.appliances[2].ssh_port == 2222
    assert inventory.upgrade.bundle.local_path == "C:\\Upgrades\\ums-system-upgrade.shar"
    with pytest.raises(AttributeError):
        first.name = "other"  # type: ignore[misc]


def test_versions_keep_their_written_text(tmp_path: Path) -> None:
    path = write(
        tmp_path, HEAD + "appliances:\n  - {name: a1, host: a1.corp.example, version: 4.10}\n"
    )
    assert str(load_inventory(path).appliances[0].version) == "4.10"


def test_csv_appliances_with_bom_crlf_and_empty_cells(tmp_path: Path) -> None:
    rows = [
        "name,host,version,ssh_port,ssh_host_key,snapshot,metered_servers,notes",
        f"um-a,um-a.corp.example,4.2.0,,{KEY},vc / DC / um-a,vc1.corp.example;vcd1.corp.example,",
        'um-b,192.0.2.7,4.1.2,2222,,,,"a note, with a comma"',
    ]
    (tmp_path / "fleet.csv").write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode())
    path = write(tmp_path, HEAD + "appliances: fleet.csv\n")
    inventory = load_inventory(path)
    a, b = inventory.appliances
    assert a.ssh_port == 22 and a.notes is None and a.snapshot == "vc / DC / um-a"
    assert a.metered_servers == ("vc1.corp.example", "vcd1.corp.example")
    assert b.ssh_port == 2222 and b.ssh_host_key is None and b.notes == "a note, with a comma"
    assert a.source.endswith("fleet.csv") and a.line == 2 and b.line == 3


def test_csv_errors_name_the_csv_file_line_and_column(tmp_path: Path) -> None:
    rows = ["name,host,version,colour", "um-a,um-a.corp.example,4.2,blue"]
    (tmp_path / "fleet.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    found = problems(write(tmp_path, HEAD + "appliances: fleet.csv\n"))
    assert any("fleet.csv:1: colour: unknown column 'colour'" in p for p in found), found

    rows = ["name,host,version", "um-a,um-a.corp.example,4.2", "um-b,999.1.1.1,4.2"]
    (tmp_path / "fleet.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    found = problems(write(tmp_path, HEAD + "appliances: fleet.csv\n"))
    assert (
        len(found) == 1 and "fleet.csv:3: host: '999.1.1.1' is not a valid IP address" in found[0]
    )


def test_csv_missing_and_binary(tmp_path: Path) -> None:
    found = problems(write(tmp_path, HEAD + "appliances: nowhere.csv\n"))
    assert "nowhere.csv: appliances: no such file" in found[0]
    (tmp_path / "bin.csv").write_bytes(b"name,host\x00\x01")
    found = problems(write(tmp_path, HEAD + "appliances: bin.csv\n"))
    assert "binary file" in found[0]


BAD_CASES = {
    "malformed yaml": ("change: [unclosed\n", "inventory.yaml:2: inventory: invalid YAML"),
    "unknown key": (
        HEAD.replace("  implementer:", "  implementor: x\n  implementer:")
        + "appliances:\n  - {name: a1, host: a1.corp.example, version: 4.2}\n",
        "inventory.yaml:6: change.implementor: unknown key 'implementor'",
    ),
    "password key": (
        HEAD + "appliances:\n  - name: a1\n    host: a1.corp.example\n"
        "    version: 4.2\n    password: hunter2\n",
        "appliances[0].password: unknown key 'password'",
    ),
    "wrong type": (
        HEAD + "appliances:\n  - name: [a, b]\n    host: a1.corp.example\n    version: 4.2\n",
        "inventory.yaml:12: appliances[0].name: expected a single value",
    ),
    "bad version": (
        HEAD + "appliances:\n  - {name: a1, host: a1.corp.example, version: 4.x}\n",
        "inventory.yaml:12: appliances[0].version: '4.x' is not a version",
    ),
    "bad checksum": (
        HEAD.replace(SHA, "abc123") + "appliances:\n"
        "  - {name: a1, host: a1.corp.example, version: 4.2}\n",
        "inventory.yaml:10: upgrade.bundle.sha256: 'abc123' is not a SHA-256",
    ),
    "window backwards": (
        HEAD.replace("2026-12-06T02:00:00+01:00", "2026-12-05T21:00:00+01:00")
        + "appliances:\n  - {name: a1, host: a1.corp.example, version: 4.2}\n",
        "inventory.yaml:5: change.window.end: the window ends",
    ),
    "window without offset": (
        HEAD.replace("2026-12-05T22:00:00+01:00", "2026-12-05 22:00")
        + "appliances:\n  - {name: a1, host: a1.corp.example, version: 4.2}\n",
        "change.window.start: '2026-12-05 22:00' is not an ISO 8601",
    ),
    "invalid ip": (
        HEAD + "appliances:\n  - {name: a1, host: 192.0.2.300, version: 4.2}\n",
        "inventory.yaml:12: appliances[0].host: '192.0.2.300' is not a valid IP",
    ),
    "short host name": (
        HEAD + "appliances:\n  - {name: a1, host: um01, version: 4.2}\n",
        "is neither a fully qualified domain name nor an IP address",
    ),
    "bad name": (
        HEAD + "appliances:\n  - {name: um_01, host: a1.corp.example, version: 4.2}\n",
        "'um_01' is not a host-name label",
    ),
    "duplicate names": (
        HEAD + "appliances:\n  - {name: a1, host: a1.corp.example, version: 4.2}\n"
        "  - {name: A1, host: a2.corp.example, version: 4.2}\n",
        "inventory.yaml:13: name: duplicate name 'A1' (first at",
    ),
    "bad host key": (
        HEAD + "appliances:\n  - {name: a1, host: a1.corp.example, version: 4.2, "
        "ssh_host_key: ssh-ed25519 bm90IGEga2V5}\n",
        "appliances[0].ssh_host_key: the key data does not hold a ssh-ed25519 key",
    ),
    "bad port": (
        HEAD + "appliances:\n  - {name: a1, host: a1.corp.example, version: 4.2, "
        "ssh_port: 70000}\n",
        "appliances[0].ssh_port: '70000' is not a TCP port",
    ),
    "missing required": (
        HEAD + "appliances:\n  - {name: a1, version: 4.2}\n",
        "appliances[0].host: is required",
    ),
    "duplicate key": (
        HEAD + "appliances:\n  - name: a1\n    name: a2\n",
        "inventory.yaml:13: inventory: duplicate key 'name' (first at line 12)",
    ),
    "no appliances": (HEAD + "appliances: []\n", "appliances: expected a list of appliances"),
    "alias": (
        HEAD + "appliances:\n  - &x {name: a1, host: a1.corp.example, version: 4.2}\n  - *x\n",
        "YAML aliases",
    ),
    "control character": (
        HEAD + "appliances:\n  - {name: a1, host: a1.corp.example, "
        'version: 4.2, snapshot: "a\\u0007b"}\n',
        "appliances[0].snapshot: holds U+0007, a control character",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_names_file_line_field_and_a_hint(tmp_path: Path, case: str) -> None:
    text, expected = BAD_CASES[case]
    found = problems(write(tmp_path, text))
    assert any(expected in p for p in found), found
    assert all(
        p.startswith(str(tmp_path / "inventory.yaml")) for p in found if "fleet.csv" not in p
    )


def test_password_key_hint_says_secrets_never_go_in(tmp_path: Path) -> None:
    text, _ = BAD_CASES["password key"]
    found = problems(write(tmp_path, text))
    assert "never go into the inventory" in "\n".join(found)


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = HEAD.replace(SHA, "nope") + textwrap.dedent("""\
        appliances:
          - {name: a1, host: 192.0.2.300, version: 4.2}
          - {name: a2, host: a2.corp.example, version: banana}
          - {name: a3, host: a3.corp.example, version: 4.2, colour: red}
        """)
    found = problems(write(tmp_path, text))
    assert len(found) == 4, found
    assert [p.split(": ")[1] for p in found] == [
        "upgrade.bundle.sha256",
        "appliances[0].host",
        "appliances[1].version",
        "appliances[2].colour",
    ]


@pytest.mark.parametrize(
    "content,expected",
    [
        (b"", "is empty"),
        (b"  \n\n", "is empty"),
        (b"\x00\x01\x02", "binary file"),
        (b"name: \xff\xfe", "is not UTF-8"),
    ],
)
def test_empty_binary_and_non_utf8_files(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_bytes(content)
    assert expected in problems(path)[0]


def test_missing_file_and_folder(tmp_path: Path) -> None:
    assert "no such file" in problems(tmp_path / "absent.yaml")[0]
    assert "umrunbook init" in problems(tmp_path / "absent.yaml")[0]
    assert "is a folder" in problems(tmp_path)[0]


def test_template_and_shell_text_stays_data(tmp_path: Path) -> None:
    text = HEAD + textwrap.dedent("""\
        appliances:
          - name: a1
            host: a1.corp.example
            version: 4.2
            snapshot: "{{ 7*7 }} $(reboot) <script>"
            notes: "{{ 7*7 }}\\n$(reboot)\\n<script>alert(1)</script>"
        """)
    appliance = load_inventory(write(tmp_path, text)).appliances[0]
    assert appliance.snapshot == "{{ 7*7 }} $(reboot) <script>"
    assert appliance.notes == "{{ 7*7 }}\n$(reboot)\n<script>alert(1)</script>"


def test_the_example_is_what_init_writes() -> None:
    assert "REPLACE" in example_text()
