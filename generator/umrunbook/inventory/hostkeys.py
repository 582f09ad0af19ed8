"""OpenSSH public host keys: parsed, checked, fingerprinted as ssh-keygen and WinSCP show them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

_CURVE_BITS = {
    "ecdsa-sha2-nistp256": 256,
    "ecdsa-sha2-nistp384": 384,
    "ecdsa-sha2-nistp521": 521,
}
KEY_TYPES = ("ssh-ed25519", "ssh-rsa", *_CURVE_BITS)


@dataclass(frozen=True, slots=True)
class HostKey:
    key_type: str
    blob_b64: str
    bits: int

    @classmethod
    def parse(cls, line: str) -> HostKey:
        """Parse 'TYPE BASE64 [comment]'. ValueError saying what is wrong."""
        fields = line.split()
        if len(fields) < 2:
            raise ValueError("expected an OpenSSH public-key line: 'ssh-ed25519 AAAA... [comment]'")
        key_type, blob_b64 = fields[0], fields[1]
        if key_type not in KEY_TYPES:
            raise ValueError(
                f"unsupported key type {key_type!r} (supported: {', '.join(KEY_TYPES)})"
            )
        try:
            blob = base64.b64decode(blob_b64, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the key is not valid base64") from None
        parts = _ssh_strings(blob)
        if not parts or parts[0] != key_type.encode():
            raise ValueError(f"the key data does not hold a {key_type} key")
        return cls(key_type, blob_b64, _bits(key_type, parts))

    @property
    def line(self) -> str:
        return f"{self.key_type} {self.blob_b64}"

    @property
    def sha256(self) -> str:
        """'SHA256:...' as `ssh-keygen -l -E sha256` prints it (base64, no padding)."""
        digest = hashlib.sha256(base64.b64decode(self.blob_b64)).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")

    @property
    def winscp(self) -> str:
        """The form WinSCP shows and takes in -hostkey: 'ssh-ed25519 255 <sha256 base64>'."""
        return f"{self.key_type} {self.bits} {self.sha256.removeprefix('SHA256:')}"


def _ssh_strings(blob: bytes) -> list[bytes]:
    parts: list[bytes] = []
    offset = 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            return []
        (length,) = struct.unpack(">I", blob[offset : offset + 4])
        offset += 4
        if offset + length > len(blob):
            return []
        parts.append(blob[offset : offset + length])
        offset += length
    return parts


def _bits(key_type: str, parts: list[bytes]) -> int:
    if key_type == "ssh-ed25519":
        return 255
    if key_type == "ssh-rsa" and len(parts) >= 3:
        return int.from_bytes(parts[2], "big").bit_length()
    return _CURVE_BITS.get(key_type, 0)
