"""The GO / NO-GO checkpoints: before each step that only the snapshot can undo (running the
bundle, starting the ISO upgrade), and between two upgrades of a route, with the last snapshot.

The checkpoints are umrunbook's own steps (a decision the change owns, not a vendor step); what
the one between two upgrades says of the snapshot comes from the vendor's 4.5 overview, named
in the step's text. Every checkpoint is a step with its tick, its id starting with
GO_NO_GO_ID, so that the night plan and every face find them as one notion.
"""

from __future__ import annotations

from umrunbook.catalogue.procedure import PLACES, Catalogue, Procedure, Reference
from umrunbook.planning.plan import Hop, PlannedStep, Text
from umrunbook.versions import Version

GO_NO_GO_ID = "go-no-go"  # between two upgrades; before an irreversible step: "go-no-go-<id>"
GO_NO_GO_TITLE = "GO / NO-GO"
# The steps that change the installation: after them only the snapshot takes it back. By step
# id, as every procedure of the catalogue names them (bases/shar.yaml, bases/iso.yaml).
IRREVERSIBLE = {
    "upgrade": "run the upgrade bundle",
    "run-upgrade": "start the ISO upgrade",
}
CHECKPOINT_MINUTES = 2  # umrunbook's estimate for reading the checks already done and deciding
NO_REVERT_FROM = Version.parse("4.5")  # the first target whose vendor text says it
NO_REVERT_REFERENCE = ("4.5", "VM45-ov")


def go_no_go(previous: Hop, hop: Hop, catalogue: Catalogue, number: str = "") -> PlannedStep:
    """The step that opens `hop`'s part of the window, after `previous` has been verified."""
    done = previous.target_version.short
    nxt = hop.target_version.short
    snapshot = previous.snapshot_name
    segments: list[tuple[str, bool]] = [
        (
            f"The upgrade to {done} is verified: its verify step passed and its certificates are "
            f"accepted again. Go on to {nxt} only if that is so and the window still holds this "
            "upgrade and its backout (the estimates at its steps). Otherwise stop here: the "
            f"appliance stays at {done}; close the change for what was done and plan the upgrade "
            f"to {nxt} in a new window. The snapshot ",
            False,
        ),
        (snapshot, True),
        (": ", False),
    ]
    reference = _no_revert_reference(catalogue)
    if previous.target_version >= NO_REVERT_FROM and reference is not None:
        carried = (
            ""
            if previous.target_version.key() == NO_REVERT_FROM.key()
            else f" (said for 4.5; umrunbook applies it to {done} too)"
        )
        segments.append(
            (
                f"do not revert to it from now on. The vendor recommends not reverting to the "
                f"snapshot after a successful upgrade to 4.5, so that monthly aggregation and "
                f"reporting keep working{carried}: {reference.title}. If the upgrade to {nxt} "
                f"fails, its own snapshot, taken next, is the backout. Delete ",
                False,
            )
        )
        segments.append((snapshot, True))
        segments.append(
            (" when you close the change, with the other snapshots of this change.", False)
        )
    else:
        segments.append(
            (
                f"keep it: it still takes the appliance back to {previous.source_version}. If "
                f"the upgrade to {nxt} fails, revert to its own snapshot, taken next, which "
                f"holds the verified {done}. Delete both when you close the change.",
                False,
            )
        )
    tool = hop.procedure.reference("TOOL")
    return PlannedStep(
        number=number,
        id=GO_NO_GO_ID,
        title=f"{GO_NO_GO_TITLE}: the upgrade to {nxt}",
        phase="window",
        where="workstation",
        where_label=PLACES["workstation"],
        by="operator",
        text=Text(tuple(segments)),
        commands=(),
        agent_runs=(),
        expect=Text(
            ((f"Go: the upgrade to {done} is verified and the window holds {nxt}.", False),)
        ),
        if_not=Text(
            (
                (
                    f"No-go: stop at {done}, record it in the change, and plan {nxt} anew.",
                    False,
                ),
            )
        ),
        estimate_minutes=5,
        source=tool,
        source_note="a route's decision point between two upgrades",
    )


def is_checkpoint(step: PlannedStep) -> bool:
    return step.id == GO_NO_GO_ID or step.id.startswith(GO_NO_GO_ID + "-")


def go_no_go_before(
    step: PlannedStep, procedure: Procedure, snapshot: str, number: str
) -> PlannedStep:
    """The checkpoint before `step`, one of IRREVERSIBLE: decided on what is already checked."""
    action = IRREVERSIBLE[step.id]
    hop_target = procedure.target
    return PlannedStep(
        number=number,
        id=f"{GO_NO_GO_ID}-{step.id}",
        title=f"{GO_NO_GO_TITLE}: {action} ({hop_target})",
        phase=step.phase,
        where="workstation",
        where_label=PLACES["workstation"],
        by="operator",
        text=Text(
            (
                (
                    f"The next step ({step.title}) changes the installation: after it, only the "
                    "snapshot takes the appliance back. Go on only if every step before it "
                    "passed (the preflight says PASS), the snapshot ",
                    False,
                ),
                (snapshot, True),
                (
                    " is taken, and the window still holds the rest of this upgrade and a "
                    "backout (the night plan gives this checkpoint's planned time and the latest "
                    "backout start).",
                    False,
                ),
            )
        ),
        commands=(),
        agent_runs=(),
        expect=Text(
            (
                (
                    "Go: the checks passed, the snapshot is taken and the window holds this "
                    "upgrade and its backout.",
                    False,
                ),
            )
        ),
        if_not=Text(
            (
                (
                    "No-go: stop here. The installation is unchanged; record the reason in the "
                    "change, remove the uploaded files and the snapshot as at the close of the "
                    "change, and plan the upgrade in a new window.",
                    False,
                ),
            )
        ),
        estimate_minutes=CHECKPOINT_MINUTES,
        source=procedure.reference("TOOL"),
        source_note="the decision point before a step that only the snapshot can undo",
    )


def _no_revert_reference(catalogue: Catalogue) -> Reference | None:
    target, ref_id = NO_REVERT_REFERENCE
    procedure = catalogue.get(target)
    if procedure is None:
        return None
    return procedure.references.get(ref_id)
