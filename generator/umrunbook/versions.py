"""Usage Meter versions: numeric parts compared with missing parts as zero, a build beside them.

4.2, 4.2.0 and 4.2.0.0 are one version; in 4.2.0.0-12345 the build (12345) is shown, never
compared, because the vendor's sources do not say builds of one release are ordered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# ASCII digits only: \d would also take '٤' or '²', which int() reads or refuses.
_VERSION = re.compile(r"([0-9]{1,4}(?:\.[0-9]{1,6}){0,3})(?:-([0-9]{1,12}))?")


@dataclass(frozen=True, slots=True, order=False)
class Version:
    parts: tuple[int, ...]
    build: str = field(default="", compare=False)
    text: str = field(default="", compare=False)

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse '4.2', '4.2.0.0' or '4.2.0.0-12345'; ValueError with a readable message."""
        match = _VERSION.fullmatch(text.strip())
        if not match:
            raise ValueError(
                f"{text!r} is not a version: expected numbers separated by dots, "
                "optionally followed by -BUILD (for example 4.2.0 or 4.2.0.0-12345)"
            )
        parts = tuple(int(p) for p in match.group(1).split("."))
        return cls(_normalise(parts), match.group(2) or "", text.strip())

    def key(self) -> tuple[int, int, int, int]:
        padded = (*self.parts, 0, 0, 0, 0)
        return (padded[0], padded[1], padded[2], padded[3])

    def __lt__(self, other: Version) -> bool:
        return self.key() < other.key()

    def __le__(self, other: Version) -> bool:
        return self.key() <= other.key()

    def __gt__(self, other: Version) -> bool:
        return self.key() > other.key()

    def __ge__(self, other: Version) -> bool:
        return self.key() >= other.key()

    def __str__(self) -> str:
        return self.text or ".".join(str(p) for p in self.parts)

    @property
    def short(self) -> str:
        """The version without trailing zeros beyond major.minor: 4.2.0.0 -> 4.2."""
        parts = self.parts if len(self.parts) >= 2 else (*self.parts, 0)
        return ".".join(str(p) for p in parts)


def _normalise(parts: tuple[int, ...]) -> tuple[int, ...]:
    trimmed = list(parts)
    while len(trimmed) > 1 and trimmed[-1] == 0:
        trimmed.pop()
    return tuple(trimmed)


@dataclass(frozen=True, slots=True)
class VersionRange:
    """A set of source versions as the vendor names them.

    '4.1.x' is every version whose first parts are 4.1; '4.x' every 4; '>=4.3' is 4.3 and
    later within the same major version.
    """

    text: str
    low: tuple[int, ...]
    high: tuple[int, ...] | None  # exclusive; None: no upper bound

    @classmethod
    def parse(cls, text: str) -> VersionRange:
        spec = text.strip()
        if spec.startswith(">="):
            low = Version.parse(spec[2:]).key()
            return cls(spec, low, (low[0] + 1, 0, 0, 0))
        if spec.endswith(".x"):
            prefix = tuple(int(p) for p in spec[:-2].split(".") if p.isdigit())
            if not prefix or ".".join(map(str, prefix)) != spec[:-2]:
                raise ValueError(f"{text!r} is not a version range (try 4.1.x, 4.x or >=4.3)")
            high = (*prefix[:-1], prefix[-1] + 1)
            return cls(spec, _pad(prefix), _pad(high))
        exact = Version.parse(spec).key()
        return cls(spec, exact, _bump_last(exact))

    def __contains__(self, version: object) -> bool:
        if not isinstance(version, Version):
            return False
        key = version.key()
        return key >= self.low and (self.high is None or key < self.high)

    def __str__(self) -> str:
        return self.text


def _pad(parts: tuple[int, ...]) -> tuple[int, ...]:
    return (*parts, 0, 0, 0, 0)[:4]


def _bump_last(key: tuple[int, ...]) -> tuple[int, ...]:
    return (*key[:-1], key[-1] + 1)
