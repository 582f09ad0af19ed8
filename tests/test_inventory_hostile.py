"""Hostile input: nothing lost, nothing injected.

Every case here is text a user can type (or paste, or point the tool at) that once got past
`check` and broke later, ran what it should only print, or leaked what it should not show.
Each must end in FILE:LINE: FIELD with a message, or be printed escaped; never a traceback.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import FIXED_EPOCH, need, umrunbook
from umrunbook.errors import InputError, printable
from umrunbook.inventory.example import example_text
from umrunbook.inventory.hostkeys import HostKey
from umrunbook.inventory.load import load_inventory

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
ONE = "appliances:\n  - name: a1\n    host: a1.corp.example\n    version: 4.2\n"


def write(tmp_path: Path, text: str, name: str = "inventory.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_inventory(path)
    return [str(p) for p in caught.value.problems]


def appliance_with(line: str) -> str:
    """The inventory with one appliance that has `line` (YAML, e.g. 'snapshot: x') added."""
    return HEAD + ONE + f"    {line}\n"


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    for stream in (result.stdout, result.stderr):
        assert "Traceback" not in stream and "internal error" not in stream, stream


# -- one rule for all free text ---------------------------------------------------------

HIDDEN = {
    "line separator": ("\\u2028", "U+2028 (LINE SEPARATOR)"),
    "paragraph separator": ("\\u2029", "U+2029 (PARAGRAPH SEPARATOR)"),
    "next line (C1)": ("\\x85", "U+0085"),
    "C1 control": ("\\x9b", "U+009B"),
    "escape": ("\\e", "U+001B"),
    "lone surrogate": ("\\ud800", "U+D800"),
    "right-to-left override": ("\\u202e", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    "left-to-right embedding": ("\\u202a", "U+202A (LEFT-TO-RIGHT EMBEDDING)"),
    "first strong isolate": ("\\u2068", "U+2068 (FIRST STRONG ISOLATE)"),
    "pop directional isolate": ("\\u2069", "U+2069 (POP DIRECTIONAL ISOLATE)"),
    "zero-width space": ("\\u200b", "U+200B (ZERO WIDTH SPACE)"),
    "zero-width joiner": ("\\u200d", "U+200D (ZERO WIDTH JOINER)"),
    "word joiner": ("\\u2060", "U+2060 (WORD JOINER)"),
    "inner byte-order mark": ("\\ufeff", "U+FEFF (ZERO WIDTH NO-BREAK SPACE)"),
    "emoji": ("\\U0001F600", "U+1F600 (GRINNING FACE)"),
    "private use": ("\\ue000", "U+E000"),
    "unassigned": ("\\U000E0080", "U+E0080"),
}
FREE_TEXT_PLACES = {
    "change.implementer": ("  implementer: Jane Operator\n", "  implementer: {}\n", False),
    "change.approver": (
        "  implementer: Jane Operator\n",
        "  implementer: J\n  approver: {}\n",
        False,
    ),
    "appliances[0].snapshot": ("", "    snapshot: {}\n", True),
    "appliances[0].notes": ("", "    notes: {}\n", True),
    "upgrade.bundle.local_path": ("", "    local_path: {}\n", False),
}


@pytest.mark.parametrize("place", sorted(FREE_TEXT_PLACES))
@pytest.mark.parametrize("case", sorted(HIDDEN))
def test_free_text_refuses_invisible_and_unprintable_characters_by_name(
    tmp_path: Path, place: str, case: str
) -> None:
    escape, named = HIDDEN[case]
    old, new, appended = FREE_TEXT_PLACES[place]
    value = f'"a{escape}b"'
    if appended:
        text = HEAD + ONE + new.format(value)
    elif place == "upgrade.bundle.local_path":
        text = HEAD + f"    local_path: {value}\n" + ONE
    else:
        text = HEAD.replace(old, new.format(value)) + ONE
    found = problems(write(tmp_path, text))
    assert len(found) == 1, found
    assert f": {place}: holds {named}" in found[0], found
    assert "at character 2" in found[0]
    assert printable(found[0]) == found[0]  # the message itself holds none of them


def test_letters_the_pdf_can_show_are_accepted_and_every_face_renders_them(
    tmp_path: Path,
) -> None:
    """What check accepts, every face renders: Latin, Greek, Cyrillic, Hebrew and Devanagari
    letters pass, and the PDF (PDF/A, which refuses a missing glyph) holds them."""
    need("pdftotext")
    text = HEAD.replace("Jane Operator", "Zoë Ðorđević Ωμέγα") + ONE
    hebrew, hindi = "\u05e9\u05dc\u05d5\u05dd", "\u0928\u092e\u0938\u094d\u0924\u0947"
    text += "    snapshot: vc01 / Москва / um-01\n    notes: |\n      Première ligne\n"
    text += f"      {hebrew} {hindi}\n"
    path = write(tmp_path, text)
    inventory = load_inventory(path)
    assert inventory.change.implementer == "Zoë Ðorđević Ωμέγα"
    assert inventory.appliances[0].notes == f"Première ligne\n{hebrew} {hindi}"
    out = tmp_path / "package"
    result = umrunbook(["render", str(path), "--out", str(out)])
    assert result.returncode == 0, result.stderr
    (pdf,) = out.glob("*/runbook.pdf")
    shown = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    for word in ("Ðorđević", "Москва", "Première", hebrew):
        assert word in shown, word


JAPANESE, CHINESE, KOREAN = "山田 太郎", "北京 机房 / 快照", "서울 메모 한국어"


def test_chinese_japanese_and_korean_are_accepted_and_every_face_renders_them(
    tmp_path: Path,
) -> None:
    """Japanese, Chinese and Korean providers write their own names: check accepts them, and
    the Markdown, the HTML, the PDF (through the CJK font it ships) and the ticket show them."""
    need("pdftotext")
    text = HEAD.replace("Jane Operator", JAPANESE) + ONE
    text += f"    snapshot: {CHINESE}\n    notes: |\n      {KOREAN}\n      カタカナ ひらがな\n"
    path = write(tmp_path, text)
    assert umrunbook(["check", str(path)]).returncode == 0
    out = tmp_path / "package"
    result = umrunbook(["render", str(path), "--out", str(out)])
    assert result.returncode == 0, result.stderr
    folder = out / "a1"
    shown = {
        "md": (folder / "runbook.md").read_text(encoding="utf-8"),
        "html": (folder / "runbook.html").read_text(encoding="utf-8"),
        "pdf": subprocess.run(
            ["pdftotext", str(folder / "runbook.pdf"), "-"], capture_output=True, text=True
        ).stdout,
        "ticket": umrunbook(["ticket", str(path)]).stdout,
    }
    for face, words in shown.items():
        for word in ("山田", "快照", "서울", "カタカナ"):
            if face == "ticket" and word != "快照":
                continue  # the ticket names the snapshot, not the implementer or the notes
            assert word in words, (face, word)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("notes", "ok \U0001f600", "U+1F600 (GRINNING FACE), a symbol (such as an emoji), at"),
        ("implementer", "ไทย", "U+0E44 (THAI CHARACTER SARA AI MAIMALAI) at character"),
    ],
)
def test_a_character_no_pdf_font_holds_is_refused_with_its_place(
    tmp_path: Path, field: str, value: str, named: str
) -> None:
    if field == "implementer":
        text = HEAD.replace("Jane Operator", value) + ONE
    else:
        text = HEAD + ONE + f"    {field}: {value}\n"
    found = problems(write(tmp_path, text))
    assert len(found) == 1, found
    assert f"{field}: holds {named}" in found[0], found


def test_every_latin_character_is_shown_without_asking_the_engine() -> None:
    """The fast path's claim: the PDF's fonts hold every printable character below U+0250."""
    from umrunbook.inventory.glyphs import _SHOWN_WITHOUT_ASKING, _missing

    latin = "".join(chr(c) for c in range(0x21, _SHOWN_WITHOUT_ASKING) if chr(c).isprintable())
    assert _missing(latin) == frozenset()
    assert _missing("日ไ") == frozenset("ไ")  # and the probe can tell


def test_notes_keep_new_lines_and_tabs_but_no_other_control(tmp_path: Path) -> None:
    ok = load_inventory(write(tmp_path, appliance_with('notes: "one\\n\\ttwo"')))
    assert ok.appliances[0].notes == "one\n\ttwo"
    found = problems(write(tmp_path, appliance_with('notes: "one\\rtwo"')))
    assert "appliances[0].notes: holds U+000D, a control character" in found[0]


def test_a_line_separator_in_a_snapshot_never_reaches_the_ticket(tmp_path: Path) -> None:
    inventory = write(tmp_path, appliance_with('snapshot: "vc01\\u2028Backout plan: none"'))
    for command in (["check", str(inventory)], ["ticket", str(inventory)]):
        result = umrunbook(command)
        assert result.returncode == 2, result
        assert "appliances[0].snapshot: holds U+2028 (LINE SEPARATOR)" in result.stderr
        assert "Backout plan: none" not in result.stdout
        assert_clean(result)


def test_a_lone_surrogate_is_an_input_error_in_check_ticket_and_render(tmp_path: Path) -> None:
    inventory = write(tmp_path, appliance_with('snapshot: "x\\ud800"'))
    for command in ("check", "ticket", "render"):
        args = [command, str(inventory)]
        if command == "render":
            args += ["--format", "md", "--out", str(tmp_path / "out")]
        result = umrunbook(args)
        assert result.returncode == 2, (command, result.stderr)
        assert "appliances[0].snapshot: holds U+D800" in result.stderr
        assert_clean(result)
    assert not (tmp_path / "out").exists()


def test_metered_server_names_follow_the_host_rule(tmp_path: Path) -> None:
    found = problems(
        write(tmp_path, appliance_with('metered_servers: ["vc01.corp\\u202e.example"]'))
    )
    assert "appliances[0].metered_servers:" in found[0]
    assert "\u202e" not in found[0]


# -- secrets ----------------------------------------------------------------------------

SECRETS = {
    "password colon": "root password: Hunter2!",
    "passwd equals": "passwd=hunter2",
    "pwd colon": "the pwd: s3cret",
    "root password said": "root password Secr3t!",
    "password is": "password is Winter2026",
    "token": "api token = 0123abcd",
}


@pytest.mark.parametrize("case", sorted(SECRETS))
def test_a_password_in_notes_is_refused_and_never_echoed(tmp_path: Path, case: str) -> None:
    value = SECRETS[case]
    found = problems(write(tmp_path, appliance_with(f"notes: {json.dumps(value)}")))
    assert len(found) == 1, found
    assert "appliances[0].notes: looks like it holds a password or a secret" in found[0]
    assert "types the password at the prompt" in found[0]
    assert value.split()[-1] not in found[0]


def test_prose_about_the_password_prompt_is_accepted(tmp_path: Path) -> None:
    note = "The operator types the root password at the prompt; ask the owner for it."
    inventory = load_inventory(write(tmp_path, appliance_with(f"notes: {json.dumps(note)}")))
    assert inventory.appliances[0].notes == note


def test_a_private_key_block_in_free_text_is_refused(tmp_path: Path) -> None:
    block = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\n"
        "b3BlbnNzaC1rZXktdjEAAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----"
    )
    text = appliance_with("notes: |\n" + textwrap.indent(block, "      "))
    found = problems(write(tmp_path, text))
    assert "appliances[0].notes: holds a private key block" in found[0]
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in found[0]
    found = problems(write(tmp_path, appliance_with('snapshot: "-----BEGIN RSA PRIVATE KEY-----"')))
    assert "appliances[0].snapshot: holds a private key block" in found[0]


@pytest.mark.parametrize("key", ["token", "access_token", "password", "secret", "api-key"])
def test_secret_keys_are_refused_anywhere_with_the_secrets_hint(tmp_path: Path, key: str) -> None:
    places = [
        HEAD.replace("  implementer:", f"  {key}: x\n  implementer:") + ONE,
        HEAD + f"  {key}: x\n" + ONE,
        HEAD + ONE + f"    {key}: x\n",
        f"{key}: x\n" + HEAD + ONE,
        HEAD.replace("upgrade:\n", f"upgrade:\n  bundles:\n    {key}: {{sha256: {SHA}}}\n") + ONE,
    ]
    for text in places:
        found = problems(write(tmp_path, text))
        # An access token has a hint of its own: where it is made, and where it is typed.
        hint = "upgrade-um.sh's prompt" if "token" in key else "never go into the inventory"
        assert any(f"unknown key {key!r}" in p and hint in p for p in found), found


def test_a_secret_csv_column_gets_the_secrets_hint(tmp_path: Path) -> None:
    write(tmp_path, "name,host,version,password\na1,a1.corp.example,4.2,hunter2\n", "fleet.csv")
    found = problems(write(tmp_path, HEAD + "appliances: fleet.csv\n"))
    assert "fleet.csv:1: password: unknown column 'password'" in found[0]
    assert "never go into the inventory" in found[0]
    assert "hunter2" not in "\n".join(found)


def test_a_rejected_proxy_never_repeats_its_credentials(tmp_path: Path) -> None:
    for proxy in ("http://user:pass@proxy:3128", "user:pass@proxy.corp.example:3128"):
        found = problems(write(tmp_path, appliance_with(f"proxy: {json.dumps(proxy)}")))
        assert "appliances[0].proxy:" in found[0]
        assert "pass" not in found[0].split("hint:")[0].replace("password", ""), found
        assert "***@" in found[0]


def test_no_error_echoes_user_info_of_a_url(tmp_path: Path) -> None:
    found = problems(write(tmp_path, appliance_with("ssh_port: 'admin:Secr3t@22'")))
    assert "Secr3t" not in found[0]


# -- values that broke later instead of at check ----------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('ssh_port: "²"', "appliances[0].ssh_port: '²' is not a TCP port"),
        ('ssh_port: "٢٢"', "appliances[0].ssh_port: '٢٢' is not a TCP port"),
        ('version: "٤.٢"', "appliances[0].version: '٤.٢' is not a version"),
        ("host: fe80::1%eth0", "appliances[0].host: 'fe80::1%eth0': an IPv6 zone id"),
        ('host: "\\u0661\\u0669\\u0662.\\u0660.\\u0662.\\u0661"', "appliances[0].host:"),
    ],
)
def test_unicode_digits_and_zone_ids_are_input_errors(
    tmp_path: Path, line: str, expected: str
) -> None:
    key = line.split(":", 1)[0]
    base = {"host": "    host: a1.corp.example\n", "version": "    version: 4.2\n"}
    text = HEAD + ONE.replace(base.get(key, "\0"), "")
    found = problems(write(tmp_path, text + f"    {line}\n"))
    assert any(expected in p for p in found), found


def test_a_build_in_arabic_indic_digits_is_an_input_error(tmp_path: Path) -> None:
    text = HEAD.replace(f"    sha256: {SHA}\n", '    build: "١٢٣"\n') + ONE
    found = problems(write(tmp_path, text))
    assert any("upgrade.bundle.build: '١٢٣' is not a build number" in p for p in found), found


def test_an_ipv6_host_is_accepted_as_an_ip(tmp_path: Path) -> None:
    text = (HEAD + ONE).replace("host: a1.corp.example", 'host: "2001:DB8::10"')
    inventory = load_inventory(write(tmp_path, text))
    assert inventory.appliances[0].host == "2001:db8::10"


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("9999-12-31T22:00:00-01:00", "9999-12-31T23:00:00-01:00"),
        ("0001-01-01T00:00:00+01:00", "0001-01-01T02:00:00+01:00"),
        ("1999-12-31T22:00:00+00:00", "2026-12-06T02:00:00+01:00"),
    ],
)
def test_the_window_is_bounded_to_sane_years(tmp_path: Path, start: str, end: str) -> None:
    text = HEAD.replace("2026-12-05T22:00:00+01:00", start).replace(
        "2026-12-06T02:00:00+01:00", end
    )
    inventory = write(tmp_path, text + ONE)
    result = umrunbook(["ticket", str(inventory)])
    assert result.returncode == 2, result
    assert f"{inventory}:4: change.window.start: the year" in result.stderr
    assert "outside 2000-2199" in result.stderr
    assert_clean(result)


def test_yaml_nested_500_deep_is_a_clear_error(tmp_path: Path) -> None:
    inventory = write(tmp_path, HEAD + "appliances: " + "[" * 500 + "]" * 500 + "\n")
    result = umrunbook(["check", str(inventory)])
    assert result.returncode == 2
    assert f"{inventory}:11: inventory: nested more than" in result.stderr
    assert_clean(result)


def test_windows_device_names_are_refused_as_appliance_names(tmp_path: Path) -> None:
    for name in ("con", "NUL", "Aux", "prn", "com1", "COM9", "lpt1", "Lpt9"):
        found = problems(write(tmp_path, (HEAD + ONE).replace("name: a1", f"name: {name}")))
        assert f"appliances[0].name: {name!r} is a name Windows reserves" in found[0]
    ok = load_inventory(write(tmp_path, (HEAD + ONE).replace("name: a1", "name: com10")))
    assert ok.appliances[0].name == "com10"


# -- host keys, parsed in full at check --------------------------------------------------


def ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def mpint(value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 8) // 8, "big")  # a leading 0: positive
    return ssh_string(raw)


def key_line(key_type: str, *fields: bytes) -> str:
    blob = ssh_string(key_type.encode()) + b"".join(fields)
    return f"{key_type} {base64.b64encode(blob).decode()}"


GOOD_ED25519 = key_line("ssh-ed25519", ssh_string(bytes(range(32))))
GOOD_RSA = key_line("ssh-rsa", mpint(65537), mpint((1 << 3071) | 12345))
GOOD_ECDSA = key_line(
    "ecdsa-sha2-nistp256", ssh_string(b"nistp256"), ssh_string(b"\x04" + bytes(64))
)
BAD_KEYS = {
    "ed25519 short": (key_line("ssh-ed25519", ssh_string(bytes(31))), "32-byte key"),
    "ed25519 extra field": (
        key_line("ssh-ed25519", ssh_string(bytes(32)), ssh_string(b"x")),
        "32-byte key",
    ),
    "rsa 8 bits": (key_line("ssh-rsa", mpint(65537), mpint(0xC5)), "8 bits; at least 2048"),
    "rsa 1024 bits": (
        key_line("ssh-rsa", mpint(65537), mpint((1 << 1023) | 1)),
        "1024 bits; at least 2048",
    ),
    "rsa even exponent": (
        key_line("ssh-rsa", mpint(4), mpint((1 << 3071) | 1)),
        "exponent",
    ),
    "ecdsa wrong curve": (
        key_line("ecdsa-sha2-nistp256", ssh_string(b"nistp384"), ssh_string(b"\x04" + bytes(64))),
        "curve nistp256",
    ),
    "ecdsa short point": (
        key_line("ecdsa-sha2-nistp256", ssh_string(b"nistp256"), ssh_string(b"\x04" + bytes(10))),
        "one point on nistp256",
    ),
    "blob of another type": (
        "ssh-ed25519 " + GOOD_RSA.split()[1],
        "does not hold a ssh-ed25519 key",
    ),
    "base64 cut short": (GOOD_ED25519[:-4], "cut short or damaged"),
    "base64 cut mid-quantum": (GOOD_ED25519[:-1], "base64"),
    "two keys": (f"{GOOD_ED25519} {GOOD_RSA}", "more than one key"),
    "two keys, no type": (f"{GOOD_ED25519} {GOOD_ED25519.split()[1]}", "more than one key"),
}


@pytest.mark.parametrize("case", sorted(BAD_KEYS))
def test_a_bad_host_key_fails_at_check(tmp_path: Path, case: str) -> None:
    line, expected = BAD_KEYS[case]
    found = problems(write(tmp_path, appliance_with(f"ssh_host_key: {line}")))
    assert len(found) == 1 and "appliances[0].ssh_host_key:" in found[0], found
    assert expected in found[0], found


def test_good_host_keys_of_each_type_pass_with_a_comment() -> None:
    assert HostKey.parse(GOOD_ED25519 + " root@um-ams-01").bits == 255
    assert HostKey.parse(GOOD_RSA).bits == 3072
    assert HostKey.parse(GOOD_ECDSA + " a comment").bits == 256


# -- files that are not files ------------------------------------------------------------


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_as_the_inventory_is_refused_without_reading_it() -> None:
    result = umrunbook(["check", "/dev/zero"])
    assert result.returncode == 2
    assert "/dev/zero: inventory: is not a regular file" in result.stderr
    assert_clean(result)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_or_a_device_as_the_csv_is_refused_without_waiting(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fleet.csv")
    found = problems(write(tmp_path, HEAD + "appliances: fleet.csv\n"))  # would block for ever
    assert f"{tmp_path / 'fleet.csv'}: appliances: is not a regular file" in found[0]
    found = problems(write(tmp_path, HEAD + "appliances: /dev/urandom\n"))
    assert "/dev/urandom: appliances: is not a regular file" in found[0]


def test_an_inventory_over_the_bound_is_refused(tmp_path: Path) -> None:
    from umrunbook.inventory import load

    path = write(tmp_path, HEAD + ONE + "#" * (load.MAX_INVENTORY_BYTES + 10) + "\n")
    assert "inventory: is larger than" in problems(path)[0]


# -- the CSV ----------------------------------------------------------------------------


def test_a_duplicated_csv_column_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        "name,host,version,host\na1,a1.corp.example,4.2,other.corp.example\n",
        "fleet.csv",
    )
    found = problems(write(tmp_path, HEAD + "appliances: fleet.csv\n"))
    assert found == [
        f"{tmp_path / 'fleet.csv'}:1: host: the column 'host' appears twice (columns 2 and 4)"
        "\n  hint: keep one column of each name: of two, one value would be lost"
    ]


def test_a_file_that_is_not_the_csv_is_never_echoed(tmp_path: Path) -> None:
    shadow = "root:$6$saltsalt$0123456789abcdefHASH:19000:0:99999:7:::\nbin:*:19000::::::\n"
    write(tmp_path, shadow, "shadow")
    inventory = write(tmp_path, HEAD + "appliances: shadow\n")
    result = umrunbook(["check", str(inventory)])
    assert result.returncode == 2
    assert "does not read as an appliances CSV" in result.stderr
    assert "saltsalt" not in result.stderr and "root:" not in result.stderr
    assert_clean(result)


def test_unknown_csv_header_text_is_shown_only_short_and_plain(tmp_path: Path) -> None:
    write(tmp_path, "name,host,version,\x1b[2Jsecret$6$x\na1,a1.corp.example,4.2,\n", "fleet.csv")
    found = problems(write(tmp_path, HEAD + "appliances: fleet.csv\n"))
    assert "fleet.csv:1: column 4: unknown column 'column 4'" in found[0]
    assert "$6$" not in found[0] and "\x1b" not in found[0]


# -- what is printed: control characters shown, never sent ------------------------------


def test_escape_sequences_in_a_quoted_yaml_key_are_printed_escaped(tmp_path: Path) -> None:
    inventory = write(tmp_path, HEAD + ONE + '"\\e]0;owned\\a\\e[2J": 1\n')
    result = umrunbook(["check", str(inventory)])
    assert result.returncode == 2
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "\\x1b]0;owned\\x07\\x1b[2J: unknown key" in result.stderr


def test_escape_sequences_in_a_csv_header_cell_are_printed_escaped(tmp_path: Path) -> None:
    write(tmp_path, "name,host,version,ho\x1b[31mst\na1,a1.corp.example,4.2,\n", "fleet.csv")
    result = umrunbook(["check", str(write(tmp_path, HEAD + "appliances: fleet.csv\n"))])
    assert result.returncode == 2
    assert "\x1b" not in result.stderr


def test_printable_escapes_controls_and_keeps_letters() -> None:
    assert printable("a\x1b[31mb\x9b\u202e\u2028") == "a\\x1b[31mb\\x9b\\u202e\\u2028"
    assert printable("Zoë 王 →") == "Zoë 王 →"
    assert printable("one\ntwo") == "one\ntwo"
    assert printable("one\ntwo", newlines=False) == "one\\x0atwo"


def manual_evidence(tmp_path: Path, **fields: str) -> Path:
    record = {
        "schema": "umrunbook-manual-steps/1",
        "ticket": "CHG0012345",
        "appliance": "um-ams-01",
        "exported_at": "2026-12-05T23:59:00Z",
        "steps": [],
        **fields,
    }
    path = tmp_path / "manual.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    return path


def test_evidence_fields_in_the_ingest_table_are_printed_escaped(tmp_path: Path) -> None:
    evidence = manual_evidence(tmp_path, appliance="um\x1b[2J\x1b]0;x\x07\nforged row")
    result = umrunbook(["ingest", str(evidence)])
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "um\\x1b[2J" in result.stdout
    assert len(result.stdout.splitlines()) == 2  # the header and one row, no forged row


def test_evidence_fields_in_the_mismatch_error_are_printed_escaped(tmp_path: Path) -> None:
    inventory = write(tmp_path, example_text())
    out = tmp_path / "pkg"
    rendered = umrunbook(["render", str(inventory), "--format", "md", "--out", str(out)])
    assert rendered.returncode == 0, rendered.stderr
    evidence = manual_evidence(tmp_path, ticket="CHG1\x1b[2J\nerror: forged")
    result = umrunbook(
        [
            "ingest",
            str(evidence),
            "--inventory",
            str(inventory),
            "--out",
            str(out),
            "--format",
            "md",
        ]
    )
    assert result.returncode == 1
    assert "\x1b" not in result.stderr
    assert "belongs to change CHG1\\x1b[2J\\x0aerror: forged" in result.stderr
    assert_clean(result)


def test_evidence_nested_1000_deep_is_refused_and_the_others_read(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 1000 + "]" * 1000)
    good = manual_evidence(tmp_path)
    result = umrunbook(["ingest", str(deep), str(good)])
    assert result.returncode == 1
    assert f"error: {deep}: its JSON is nested too deep" in result.stderr
    assert "um-ams-01" in result.stdout and "manual steps" in result.stdout
    assert_clean(result)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_as_evidence_is_refused_and_the_others_read(tmp_path: Path) -> None:
    result = umrunbook(["ingest", "/dev/zero", str(manual_evidence(tmp_path))])
    assert result.returncode == 1
    assert "error: /dev/zero: not a regular file" in result.stderr
    assert "manual steps" in result.stdout


# -- streams ----------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["cp936", "cp1252", "ascii"])
def test_a_narrow_output_encoding_is_no_internal_error(tmp_path: Path, encoding: str) -> None:
    inventory = write(tmp_path, (HEAD + ONE).replace("name: a1", "name: a1→😀"))
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    result = subprocess.run(
        [sys.executable, "-m", "umrunbook", "check", str(inventory)],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    try:
        "\u2192".encode(encoding)
    except UnicodeEncodeError:  # no arrow: the stream was switched to UTF-8
        stderr = result.stderr.decode("utf-8")
    else:  # the arrow kept, the emoji it lacks written as an escape
        stderr = result.stderr.decode(encoding)
        assert "\\U0001f600" in stderr
    assert result.returncode == 2, stderr
    assert "appliances[0].name:" in stderr
    assert "Traceback" not in stderr and "internal error" not in stderr


@pytest.mark.parametrize("args", [["paths"], ["ticket", "INVENTORY"]])
def test_piping_into_head_exits_quietly(tmp_path: Path, args: list[str]) -> None:
    inventory = write(tmp_path, example_text())
    argv = [str(inventory) if a == "INVENTORY" else a for a in args]
    # A pipe whose reader has already gone, as `| head -1` leaves it: every write fails.
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "umrunbook", *argv],
            stdout=writer,
            stderr=subprocess.PIPE,
            env={**os.environ, "SOURCE_DATE_EPOCH": FIXED_EPOCH},
            timeout=60,
            check=False,
        )
    finally:
        os.close(writer)
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert stderr == ""  # no traceback, no "internal error", no "Exception ignored"


def test_init_exits_1_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "no-such-folder" / "inventory.yaml"
    result = umrunbook(["init", str(target)])
    assert result.returncode == 1, result
    assert "cannot write" in result.stderr
    assert_clean(result)


@pytest.mark.parametrize(
    ("path", "char"),
    [
        ('C:\\Upgrades\\x" & calc.exe & "\\ums-system-upgrade.shar', "'\"'"),
        ("C:\\Users\\%USERNAME%\\ums-system-upgrade.shar", "'%'"),
    ],
)
def test_a_workstation_path_that_would_break_out_of_its_quotes_is_refused(
    tmp_path: Path, path: str, char: str
) -> None:
    """The runbook offers `certutil -hashfile "<local_path>"` to copy: a double quote would end
    the quoting there and run what follows; a percent sign would be expanded."""
    text = example_text().replace("'C:\\Upgrades\\ums-system-upgrade.shar'", f"'{path}'")
    assert path in text
    found = problems(write(tmp_path, text))
    assert len(found) == 1 and f"upgrade.bundle.local_path: holds {char}" in found[0], found


def test_a_workstation_path_with_spaces_ampersands_and_brackets_is_copied_quoted(
    tmp_path: Path,
) -> None:
    path = "D:\\It's (new) & old\\ums-system-upgrade.shar"
    quoted = "'" + path.replace("'", "''") + "'"  # a YAML single-quoted scalar
    text = example_text().replace("'C:\\Upgrades\\ums-system-upgrade.shar'", quoted)
    inventory = write(tmp_path, text)
    out = tmp_path / "package"
    result = umrunbook(["render", str(inventory), "--out", str(out), "--format", "md"])
    assert result.returncode == 0, result.stderr
    runbook = (out / "um-ams-01" / "runbook.md").read_text(encoding="utf-8")
    assert f'winscp-upload.cmd "{path}"' in runbook  # the Command Prompt's quoting
    assert "Get-FileHash -Algorithm SHA256 -LiteralPath 'D:\\It''s (new) & old\\" in runbook


def test_initials_in_any_script_reach_the_as_executed_pdf(tmp_path: Path) -> None:
    """Initials typed into the HTML page never passed `check`: Japanese ones are shown, and a
    character no font holds is written as its code point, so every as-executed runbook is
    written."""
    need("pdftotext")
    inventory = write(tmp_path, example_text())
    out = tmp_path / "pkg"
    assert umrunbook(["render", str(inventory), "--out", str(out)]).returncode == 0
    evidence = manual_evidence(
        tmp_path,
        steps=[  # type: ignore[arg-type]
            {"id": "snapshot", "checked": True, "at": "2026-12-05T22:10:00Z", "initials": "山田"},
            {
                "id": "check-bundle",
                "checked": True,
                "at": "2026-12-05T22:05:00Z",
                "initials": "ok \U0001f600\x85",
            },
        ],
    )
    result = umrunbook(["ingest", str(evidence), "--inventory", str(inventory), "--out", str(out)])
    assert result.returncode == 0, result.stderr
    pdf = out / "um-ams-01" / "as-executed.pdf"
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "by 山田" in text
    assert "ok U+1F600\\x85" in "".join(text.split("\n"))
    markdown = (out / "um-ams-01" / "as-executed.md").read_text(encoding="utf-8")
    assert "by 山田" in markdown and "\U0001f600" not in markdown
