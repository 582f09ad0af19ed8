"""What was recorded at one step of a plan: the type evidence is read into, and the faces
show in an as-executed runbook. It sits with the plan, below both, so that neither reaches
into the other."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StepRecord:
    """What happened at one step of the runbook, from the agent or from the page."""

    step_id: str
    result: str  # PASS, FAIL, WARN, done
    at: str  # ISO 8601, UTC
    by: str  # "agent" or the initials typed in the page
    detail: str = ""
    target: str = ""  # the upgrade it belongs to (agent evidence); "" for any

    def belongs_to(self, target: str) -> bool:
        """On a route, an agent's record shows only under the upgrade it ran for."""
        return not self.target or self.target == target


# What every tickable line of a runbook is recorded under: the HTML page's tick boxes export
# it, the agent's evidence uses the catalogue's step ids, and the as-executed runbook looks
# records up by it. These functions are the only place the scheme is written.
CERTIFICATES_KEY = "certificates"  # the one line when the inventory names no metered servers
CLEANUP_KEY = "cleanup"
SNAPSHOT_PREREQUISITE = "snapshot-name"


def step_key(step_id: str) -> str:
    """A step of the procedure: its catalogue id, as the agent records it."""
    return step_id


def prerequisite_key(prerequisite_id: str) -> str:
    return f"prerequisite:{prerequisite_id}"


def certificate_key(server: str) -> str:
    return f"certificate:{server}"


def backout_key(number: str) -> str:
    return f"backout:{number}"
