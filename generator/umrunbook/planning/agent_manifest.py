"""The agent's manifest for one upgrade: the appliance's values, never commands.

The keys and their order are the agent's contract (agent/README.md, agentfile.MANIFEST_KEYS).
"""

from __future__ import annotations

from collections.abc import Sequence

from umrunbook.catalogue.procedure import Procedure
from umrunbook.inventory.model import Appliance, Inventory
from umrunbook.planning.agent_file import MANIFEST_VERSION
from umrunbook.planning.plan import BundleItem

STATE_DIR = "/var/lib/um-upgrade-agent"


def manifest_for(
    appliance: Appliance,
    inventory: Inventory,
    procedure: Procedure,
    bundle: Sequence[BundleItem],
    generator: str,
    source_version: str | None = None,
) -> dict[str, str]:
    """The agent's manifest: values only, in the order of the agent's contract.

    ``source_version``: the version this hop starts from, for the second and later hops of a
    route (4.2 -> 4.3 -> 4.7: the 4.7 hop's agent must find 4.3 installed, not the inventory's
    4.2). Without it, the inventory's version.
    """
    settings = procedure.agent
    main = bundle[0]
    iso = procedure.delivery == "iso"
    by_role = {item.role: item.name for item in bundle}
    return {
        "manifest_version": MANIFEST_VERSION,
        "appliance": appliance.name,
        "host": appliance.host,
        "ticket": inventory.change.ticket,
        "inventory_version": source_version or str(appliance.version),
        "supported_sources": " ".join(str(s) for s in procedure.sources),
        "target": procedure.target,
        "delivery": procedure.delivery,
        "install_dir": procedure.install_dir,
        "backup_dir": procedure.backup_dir,
        "state_dir": STATE_DIR,
        "upload_dir": procedure.upload_folder,
        "bundle_file": main.name,
        "bundle_sha256": main.sha256,
        "iso_file": main.name if iso else "",
        "manifest_file": by_role.get("manifest", "") if iso else "",
        "certificate_file": by_role.get("certificate", "") if iso else "",
        "signature_file": by_role.get("signature", "") if iso else "",
        "reboot_required": "yes" if settings.reboot_required else "no",
        "free_space_factor": str(settings.free_space_factor),
        "free_space_min_mb": str(settings.free_space_min_mb),
        "status_timeout": str(settings.status_timeout_seconds),
        "ssh_service_manager": settings.ssh_service_manager,
        "version_files": " ".join(settings.version_files),
        "snapshot": appliance.snapshot or "",
        "metered_servers": " ".join(appliance.metered_servers),
        # readiness: the target's procedure checks tdnf; the proxy its proxy step sets.
        "tdnf_check": "yes" if any(s.id == "check-tdnf" for s in procedure.steps) else "no",
        "proxy": (appliance.proxy or "")
        if any(s.condition == "proxy" for s in procedure.steps)
        else "",
        "generator": generator,
    }
