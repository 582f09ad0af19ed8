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
# Below this an RSA key can be factored: such a host key proves nothing (OpenSSH refuses
# RSA keys under 1024 bits; NIST has retired everything under 2048).
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 16384


@dataclass(frozen=True, slots=True)
class HostKey:
    key_type: str
    blob_b64: str
    bits: int

    @classmethod
    def parse(cls, line: str) -> HostKey:
        """Parse 'TYPE BASE64 [comment]' in full, as sshd would read the key: ValueError
        saying what is wrong. A key that passes here is one the transfer scripts can pin."""
        if "\n" in line.strip() or "\r" in line:
            raise ValueError("must be one key on one line")
        fields = line.split()
        if len(fields) < 2:
            raise ValueError("expected an OpenSSH public-key line: 'ssh-ed25519 AAAA... [comment]'")
        key_type, blob_b64, comment = fields[0], fields[1], fields[2:]
        if key_type not in KEY_TYPES:
            shown = key_type if len(key_type) <= 40 else key_type[:40] + "..."
            raise ValueError(f"unsupported key type {shown!r} (supported: {', '.join(KEY_TYPES)})")
        # A second key after the first would be dropped without a word: refuse it.
        if any(word in KEY_TYPES or word.startswith("AAAA") for word in comment):
            raise ValueError("holds more than one key: give one key per appliance")
        try:
            blob = base64.b64decode(blob_b64, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the key is not valid base64") from None
        if base64.b64encode(blob).decode() != blob_b64:
            raise ValueError("the key's base64 is cut short or altered")
        parts = _ssh_strings(blob)
        if not parts:
            raise ValueError(
                f"the key data does not hold a {key_type} key: it is cut short or damaged"
            )
        if parts[0] != key_type.encode():
            raise ValueError(f"the key data does not hold a {key_type} key")
        return cls(key_type, blob_b64, _check(key_type, parts))

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


def _check(key_type: str, parts: list[bytes]) -> int:
    """The key's size in bits, once its fields are what the key type says (RFC 4253,
    RFC 5656, RFC 8709); ValueError otherwise."""
    if key_type == "ssh-ed25519":
        if len(parts) != 2 or len(parts[1]) != 32:
            raise ValueError("the ed25519 key is damaged: it must hold one 32-byte key")
        return 255
    if key_type == "ssh-rsa":
        if len(parts) != 3 or any(not p or p[0] & 0x80 for p in parts[1:]):
            raise ValueError("the RSA key is damaged: it must hold an exponent and a modulus")
        exponent = int.from_bytes(parts[1], "big")
        bits = int.from_bytes(parts[2], "big").bit_length()
        if exponent < 3 or exponent % 2 == 0:
            raise ValueError("the RSA key is damaged: its exponent is not a valid one")
        if not MIN_RSA_BITS <= bits <= MAX_RSA_BITS:
            raise ValueError(
                f"the RSA key has {bits} bits; at least {MIN_RSA_BITS} are needed for it "
                "to prove anything (use the appliance's ed25519 key)"
            )
        return bits
    bits = _CURVE_BITS[key_type]
    curve = key_type.removeprefix("ecdsa-sha2-")
    if len(parts) != 3 or parts[1] != curve.encode():
        raise ValueError(f"the ECDSA key is damaged: it must name the curve {curve}")
    size = (bits + 7) // 8
    if len(parts[2]) != 1 + 2 * size or parts[2][0] != 4:
        raise ValueError(f"the ECDSA key is damaged: it must hold one point on {curve}")
    return bits
