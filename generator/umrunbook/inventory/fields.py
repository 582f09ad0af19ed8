"""Checks for single inventory values: each returns the clean value or raises Invalid."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime

from umrunbook.inventory.hostkeys import HostKey
from umrunbook.versions import Version


class Invalid(ValueError):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_TICKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def text_line(value: str, *, max_length: int = 200) -> str:
    value = value.strip()
    if not value:
        raise Invalid("must not be empty")
    if _CONTROL.search(value):
        raise Invalid("must be a single line without control characters")
    if len(value) > max_length:
        raise Invalid(f"is {len(value)} characters long; at most {max_length} are allowed")
    return value


def free_text(value: str, *, max_length: int = 4000) -> str:
    value = value.strip("\n")
    if _CONTROL_BUT_LINES.search(value):
        raise Invalid("must not contain control characters other than new lines and tabs")
    if len(value) > max_length:
        raise Invalid(f"is {len(value)} characters long; at most {max_length} are allowed")
    return value


def ticket(value: str) -> str:
    value = value.strip()
    if not _TICKET.match(value):
        raise Invalid(
            f"{value!r} is not a ticket number",
            "use the change ticket's number as your ITSM tool shows it, e.g. CHG0012345 "
            "(letters, digits, '.', '_' and '-')",
        )
    return value


def label(value: str) -> str:
    value = value.strip()
    if not _LABEL.match(value):
        raise Invalid(
            f"{value!r} is not a host-name label",
            "use letters, digits and '-' only (at most 63, not starting or ending with '-'), "
            "e.g. um-ams-01",
        )
    return value


def host(value: str) -> str:
    """An FQDN or an IP address."""
    value = value.strip()
    looks_numeric = bool(value) and all(c.isdigit() or c in ".:" for c in value)
    if ":" in value or looks_numeric:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise Invalid(
                f"{value!r} is not a valid IP address",
                "write an IPv4 address as four numbers 0-255 (e.g. 192.0.2.10) or use the FQDN",
            ) from None
    name = value.rstrip(".")
    labels = name.split(".")
    if (
        len(labels) < 2
        or len(name) > 253
        or not all(_LABEL.match(part) for part in labels)
        or labels[-1].isdigit()
    ):
        raise Invalid(
            f"{value!r} is neither a fully qualified domain name nor an IP address",
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
    if not _SHA256.match(value):
        raise Invalid(
            f"{value!r} is not a SHA-256 checksum ({len(value)} characters)",
            "copy the 64 hexadecimal digits from the vendor's download page",
        )
    return value.lower()


def file_name(value: str) -> str:
    value = value.strip()
    if not _FILE_NAME.match(value):
        raise Invalid(
            f"{value!r} is not a plain file name",
            "use the name as downloaded (letters, digits, '.', '_' and '-'), without a folder",
        )
    return value


def build(value: str) -> str:
    value = value.strip()
    if not value.isdigit() or len(value) > 12:
        raise Invalid(
            f"{value!r} is not a build number",
            "copy the digits after the version in the file names, e.g. 20554128 in "
            "Usage_Meter_Agent-4.6.0.0-20554128_Upgrade.iso",
        )
    return value


_PROXY = re.compile(r"^(?:https?://)?([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})/?$")


def proxy(value: str) -> str:
    value = value.strip()
    match = _PROXY.match(value)
    if not match or not 1 <= int(match.group(2)) <= 65535:
        raise Invalid(
            f"{value!r} is not a proxy address",
            "write host:port as the appliance's /etc/sysconfig/proxy takes it, e.g. "
            "proxy.corp.example:3128",
        )
    return value


def port(value: str) -> int:
    value = value.strip()
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise Invalid(f"{value!r} is not a TCP port", "use a number from 1 to 65535, usually 22")
    return int(value)


def timestamp(value: str) -> datetime:
    value = value.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Invalid(
            f"{value!r} is not an ISO 8601 time with a UTC offset",
            "write it as 2026-12-05T22:00:00+01:00 (date, 'T', time, offset)",
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
        raise Invalid(f"{value!r} is not one of {', '.join(options)}")
    return value
