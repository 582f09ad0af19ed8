"""Checks for single inventory values: each returns the clean value or raises Invalid."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from datetime import datetime

from umrunbook.inventory.glyphs import first_undisplayable
from umrunbook.inventory.hostkeys import HostKey
from umrunbook.versions import Version


class Invalid(ValueError):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


# fullmatch everywhere: `$` would also match before a trailing new line.
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TICKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
# Digits are ASCII: str.isdigit() and \d also take '²' and '١٢٣', which int() then reads
# or refuses in ways no one expects of a port or a build number.
_PORT = re.compile(r"[0-9]{1,5}")
_BUILD = re.compile(r"[0-9]{1,12}")
# Names Windows reserves in every folder: a package folder so named cannot be created or
# opened there (and `nul` silently swallows what is written to it).
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{n}" for n in range(1, 10)}
    | {f"lpt{n}" for n in range(1, 10)}
)
# The window's years: outside these a date is a typo, and near 0001 or 9999 the
# arithmetic of the ticket and the runbook (offsets, durations) leaves the calendar.
FIRST_YEAR, LAST_YEAR = 2000, 2199

# Free text goes into every output: runbooks (Markdown, HTML, PDF), the ticket, scripts'
# comments. Refused there: controls (C0, C1 such as U+0085), line and paragraph separators
# (U+2028, U+2029: a new line to many readers), format characters (bidi overrides such as
# U+202E and U+2066-U+2069, zero-width characters, an inner U+FEFF: they change what is
# shown without being seen), lone surrogates (not text), and, until the PDF's fonts cover
# them, symbols such as emoji (So), private-use (Co) and unassigned (Cn) characters.
# Letters of any script (CJK too) stay accepted.
_REFUSED = {
    "Cc": (
        "a control character",
        "remove it; it usually comes from copying out of a terminal or a document",
    ),
    "Zl": ("a line separator", "write the value on one line"),
    "Zp": ("a paragraph separator", "write the value on one line"),
    "Cf": (
        "an invisible format character",
        "remove it: it changes how the text is shown (direction, joining) without being seen",
    ),
    "Cs": ("a lone surrogate, not a character", "write the character itself, not \\ud800"),
    "So": (
        "a symbol (such as an emoji)",
        "the runbook's fonts cannot show it; write it in words",
    ),
    "Co": ("a private-use character", "the runbook's fonts cannot show it; remove it"),
    "Cn": ("an unassigned character", "the runbook's fonts cannot show it; remove it"),
}
_SECRET_HINT = (
    "passwords and secrets never go into the inventory: the operator types the password at "
    "the prompt; remove it (and change that password if it was shared)"
)
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")
# 'password: x', 'passwd=x', 'pwd: x', 'token = x'; and 'root password Secr3t!' (a word with
# a digit or a sign after it), but not prose such as 'the root password at the prompt'.
_SECRET_ASSIGNED = re.compile(
    r"(?i)(?<![A-Za-z])(?:password|passwort|passwd|passphrase|pwd|secret|token|api[_-]?key)"
    r"\s*[:=]\s*\S"
)
_SECRET_SAID = re.compile(
    r"(?i)(?<![A-Za-z])(?:password|passwort|passwd|pwd)\s+(?:is\s+|was\s+)?"
    r"(?=\S*[0-9!@#$%^&*+=?~_])\S"
)


def _refuse_characters(value: str, *, lines: bool) -> None:
    """Invalid naming the first character no output may hold, with its position."""
    for index, char in enumerate(value):
        if lines and char in "\n\t":
            continue
        category = unicodedata.category(char)
        if not lines and char in "\n\r":
            raise Invalid(
                f"holds a line break at character {index + 1}; it must be a single line",
                "write the value on one line",
            )
        if category in _REFUSED:
            what, hint = _REFUSED[category]
            raise Invalid(
                f"holds {_describe(char)}, {what}, at character {index + 1}",
                hint,
            )
    missing = first_undisplayable(value)
    if missing is not None:
        raise Invalid(
            f"holds {_describe(value[missing])} at character {missing + 1}, which the PDF "
            "runbook's fonts cannot show",
            "write it in Latin, Greek or Cyrillic letters; the fonts for Chinese, Japanese, "
            "Korean and some other scripts are not shipped yet",
        )


def _describe(char: str) -> str:
    """'U+202E (RIGHT-TO-LEFT OVERRIDE)', as unicodedata names it."""
    name = unicodedata.name(char, "")
    code = f"U+{ord(char):04X}"
    return f"{code} ({name})" if name else code


def _refuse_secrets(value: str) -> None:
    if _PRIVATE_KEY.search(value):
        raise Invalid("holds a private key block", _SECRET_HINT)
    if _SECRET_ASSIGNED.search(value) or _SECRET_SAID.search(value):
        raise Invalid("looks like it holds a password or a secret", _SECRET_HINT)


def shown(value: str, limit: int = 80) -> str:
    """A value as an error quotes it: user info of a URL masked, at most `limit` characters."""
    value = mask_credentials(value)
    if len(value) > limit:
        value = value[:limit] + "..."
    return repr(value)


def mask_credentials(value: str) -> str:
    """'http://user:pass@proxy:3128' -> 'http://***@proxy:3128': errors never echo a secret."""
    return re.sub(r"(^|//)[^/@\s]*@", r"\1***@", value)


def text_line(value: str, *, max_length: int = 200) -> str:
    value = value.strip()
    if not value:
        raise Invalid("must not be empty")
    _refuse_characters(value, lines=False)
    if len(value) > max_length:
        raise Invalid(f"is {len(value)} characters long; at most {max_length} are allowed")
    _refuse_secrets(value)
    return value


def free_text(value: str, *, max_length: int = 4000) -> str:
    """Several lines (new lines and tabs kept); otherwise the rule of `text_line`."""
    value = value.replace("\r\n", "\n").strip("\n")  # a CSV cell keeps its CRLF
    _refuse_characters(value, lines=True)
    if len(value) > max_length:
        raise Invalid(f"is {len(value)} characters long; at most {max_length} are allowed")
    _refuse_secrets(value)
    return value


def ticket(value: str) -> str:
    value = value.strip()
    if not _TICKET.fullmatch(value):
        raise Invalid(
            f"{shown(value)} is not a ticket number",
            "use the change ticket's number as your ITSM tool shows it, e.g. CHG0012345 "
            "(letters, digits, '.', '_' and '-')",
        )
    return value


def label(value: str) -> str:
    value = value.strip()
    if not _LABEL.fullmatch(value):
        raise Invalid(
            f"{shown(value)} is not a host-name label",
            "use letters, digits and '-' only (at most 63, not starting or ending with '-'), "
            "e.g. um-ams-01",
        )
    if value.lower() in _WINDOWS_RESERVED:
        raise Invalid(
            f"{value!r} is a name Windows reserves for a device: its package folder could "
            "not be created or opened there",
            "use the appliance's host name, e.g. um-ams-01",
        )
    return value


def host(value: str) -> str:
    """An FQDN or an IP address."""
    value = value.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]  # an IPv6 address as URLs write it
    if "%" in value:
        raise Invalid(
            f"{shown(value)}: an IPv6 zone id (%...) names an interface of one computer, "
            "not the appliance's address",
            "write the address without the zone id, or use the FQDN",
        )
    looks_numeric = bool(value) and all(c in "0123456789.:" for c in value)
    if ":" in value or looks_numeric:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise Invalid(
                f"{shown(value)} is not a valid IP address",
                "write an IPv4 address as four numbers 0-255 (e.g. 192.0.2.10), an IPv6 "
                "address (e.g. 2001:db8::10), or use the FQDN",
            ) from None
    name = value.rstrip(".")
    labels = name.split(".")
    if (
        len(labels) < 2
        or len(name) > 253
        or not all(_LABEL.fullmatch(part) for part in labels)
        or labels[-1].isdigit()
    ):
        raise Invalid(
            f"{shown(value)} is neither a fully qualified domain name nor an IP address",
            "write the full name, e.g. um-ams-01.corp.example, or an IP address",
        )
    return name


def version(value: str) -> Version:
    try:
        return Version.parse(value)
    except ValueError as exc:
        raise Invalid(str(exc), "copy the version from the web interface's About page") from None


def sha256(value: str) -> str:
    value = value.strip()
    if not _SHA256.fullmatch(value):
        raise Invalid(
            f"{shown(value)} is not a SHA-256 checksum ({len(value)} characters)",
            "copy the 64 hexadecimal digits from the vendor's download page",
        )
    return value.lower()


def file_name(value: str) -> str:
    value = value.strip()
    if not _FILE_NAME.fullmatch(value):
        raise Invalid(
            f"{shown(value)} is not a plain file name",
            "use the name as downloaded (letters, digits, '.', '_' and '-'), without a folder",
        )
    return value


def build(value: str) -> str:
    value = value.strip()
    if not _BUILD.fullmatch(value):
        raise Invalid(
            f"{shown(value)} is not a build number (at most 12 digits 0-9)",
            "copy the digits after the version in the file names, e.g. 20554128 in "
            "Usage_Meter_Agent-4.6.0.0-20554128_Upgrade.iso",
        )
    return value


_PROXY = re.compile(r"(?:https?://)?([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):([0-9]{1,5})/?")


def proxy(value: str) -> str:
    value = value.strip()
    if "@" in value:
        raise Invalid(
            f"{shown(value)} holds credentials (user:password@)",
            "proxy credentials never go into an inventory; write host:port, e.g. "
            "proxy.corp.example:3128",
        )
    match = _PROXY.fullmatch(value)
    if not match or not 1 <= int(match.group(2)) <= 65535:
        raise Invalid(
            f"{shown(value)} is not a proxy address",
            "write host:port as the appliance's /etc/sysconfig/proxy takes it, e.g. "
            "proxy.corp.example:3128",
        )
    return value


def port(value: str) -> int:
    value = value.strip()
    if not _PORT.fullmatch(value) or not 1 <= int(value) <= 65535:
        raise Invalid(
            f"{shown(value)} is not a TCP port", "use a number from 1 to 65535, usually 22"
        )
    return int(value)


def timestamp(value: str) -> datetime:
    value = value.strip()
    try:
        moment = datetime.fromisoformat(value) if value.isascii() else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Invalid(
            f"{shown(value)} is not an ISO 8601 time with a UTC offset",
            "write it as 2026-12-05T22:00:00+01:00 (date, 'T', time, offset)",
        )
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise Invalid(
            f"the year {moment.year} is outside {FIRST_YEAR}-{LAST_YEAR}",
            "check the date: write it as 2026-12-05T22:00:00+01:00",
        )
    return moment


def host_key(value: str) -> HostKey:
    try:
        return HostKey.parse(value)
    except ValueError as exc:
        raise Invalid(
            str(exc),
            "copy the line from /etc/ssh/ssh_host_ed25519_key.pub on the appliance's console",
        ) from None


def choice(value: str, options: tuple[str, ...]) -> str:
    value = value.strip()
    if value not in options:
        raise Invalid(f"{shown(value)} is not one of {', '.join(options)}")
    return value


def workstation_path(value: str) -> str:
    """A file or folder on the operator's workstation (local_path, local_folder), which the
    runbook offers in Command Prompt and PowerShell lines to copy. Windows allows neither a
    double quote nor a control character in a path, and a percent sign would be expanded by
    Command Prompt and by WinSCP: such a value could only ever be a mistake or an attack."""
    value = text_line(value, max_length=260)
    for char, why in (('"', "Windows paths cannot hold one"), ("%", _PERCENT)):
        if char in value:
            raise Invalid(
                f"holds {char!r} at character {value.index(char) + 1}: {why}",
                "give the path as Explorer shows it, without quotes; rename a folder whose "
                "name holds a percent sign",
            )
    return value


_PERCENT = "Command Prompt and WinSCP would read %NAME% in it as a variable"
