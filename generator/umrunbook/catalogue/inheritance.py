"""Inheritance between catalogue files: a target states only what differs from its base.

Targets of one kind share most of their procedure, and a step copied into every file is a step
that can be corrected in one and forgotten in the others. A target file that says
`extends: NAME` is therefore merged over `bases/NAME.yaml` before it is read, and the merged
data goes through exactly the checks of a file written out in full. The rules:

- A mapping (references, agent, risk, backout, certificates, cleanup, a step's fields) merges
  key by key, recursively: the file's own entries first, in its order, then the base's others,
  so that a target's own documents lead its references. Any other value (a text, a list such as
  sources, bundle or prerequisites) replaces the base's.
- `step_changes` edits the base's steps by id, in the order given: `replace: ID` (the whole
  step), `change: ID` (the fields given, the others kept), `remove: ID`, `insert_before: ID`
  and `insert_after: ID` (a new step, with an id of its own).
- A base lists the names its targets fill in, `parameters: [NAME, ...]`; the target gives each
  its value, `parameters: {NAME: value}`. Once merged, `{NAME}` and `{target}` are filled in
  everywhere. Every other `{name}` is the plan's and is left alone; `{target}` is also the
  plan's name for the same value (a version, which no shell needs quoted), so filling it early
  changes no output.
- A base may extend another base; a target may not be a base.
- `extrapolated_from: VERSION` says that a target carries another version's steps over without
  a source of its own: every step's source note then ends in "extrapolated from VERSION".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from umrunbook.catalogue.errors import CatalogueError

BASES = "bases"
OWN_KEYS = ("extends", "parameters", "step_changes", "extrapolated_from")
STEP_CHANGES = ("replace", "change", "remove", "insert_before", "insert_after")


def base_file(name: str) -> str:
    return f"{BASES}/{name}.yaml"


# libyaml's loader where PyYAML was built with it (its wheels are): the catalogue is read at
# the start of every command, and the pure-Python loader took 1 s of it, libyaml a tenth.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str, file: str) -> Any:
    try:
        return yaml.load(text, Loader=_LOADER)  # a safe loader, C or Python
    except yaml.YAMLError as error:
        raise CatalogueError(f"{file}: not valid YAML: {error}") from None


def resolve(data: Any, file: str, bases: Mapping[str, str]) -> tuple[Any, str]:
    """The file's data with its bases merged in, and the name its errors are reported under.

    `bases` maps a base's name to its text. A file that extends nothing comes back as it is.
    """
    if not isinstance(data, dict) or "extends" not in data:
        for key in ("parameters", "step_changes"):
            if isinstance(data, dict) and key in data:
                raise CatalogueError(f"{file}: {key}: only a file that extends a base has {key}")
        return data, file
    merged, declared, chain = _inherit(data, file, bases, (file,))
    bases_merged = " -> ".join(chain[1:])
    given = data.get("parameters") or {}
    if not isinstance(given, dict):
        raise CatalogueError(f"{file}: parameters: expected a mapping of name: value")
    missing = sorted(set(declared) - set(given))
    if missing:
        raise CatalogueError(f"{file}: parameters: no value for {missing} ({bases_merged})")
    unknown = sorted(str(name) for name in set(given) - set(declared))
    if unknown:
        raise CatalogueError(f"{file}: parameters: {unknown} not among {declared} ({bases_merged})")
    values = {str(name): str(value) for name, value in given.items()}
    if "target" in merged:
        values["target"] = str(merged["target"])
    filled = _fill(merged, values)
    if "extrapolated_from" in data:
        _mark_extrapolated(filled, str(data["extrapolated_from"]), file)
    return filled, f"{file} (extends {bases_merged})"


def _mark_extrapolated(data: dict[str, Any], version: str, file: str) -> None:
    """Every step's source note says that it is carried over from `version`."""
    mark = f"extrapolated from {version}"
    backout = data.get("backout")
    steps = [
        *(data.get("steps") or ()),
        data.get("certificates"),
        *((backout.get("steps") or ()) if isinstance(backout, dict) else ()),
        data.get("cleanup"),
    ]
    for step in steps:
        if not isinstance(step, dict):
            raise CatalogueError(f"{file}: extrapolated_from: a step is not a mapping")
        note = str(step.get("source_note") or "").strip()
        if not note.endswith(mark):
            step["source_note"] = f"{note}; {mark}" if note else mark


def _inherit(
    data: dict[str, Any], file: str, bases: Mapping[str, str], chain: tuple[str, ...]
) -> tuple[dict[str, Any], list[str], tuple[str, ...]]:
    """Merged data, the parameters the bases declare, and the files merged (this one first)."""
    name = data["extends"]
    if not isinstance(name, str) or name not in bases:
        known = ", ".join(sorted(bases)) or "none"
        raise CatalogueError(f"{file}: extends: no base {name!r} (the bases: {known})")
    label = base_file(name)
    if label in chain:
        raise CatalogueError(f"{file}: extends: a cycle: {' -> '.join((*chain, label))}")
    base_data = load_yaml(bases[name], label)
    if not isinstance(base_data, dict):
        raise CatalogueError(f"{label}: top: expected a mapping")
    declared = base_data.get("parameters") or []
    if not isinstance(declared, list) or not all(isinstance(p, str) for p in declared):
        raise CatalogueError(f"{label}: parameters: a base lists the names its targets fill in")
    if "extends" in base_data:
        base, inherited, chain = _inherit(base_data, label, bases, (*chain, label))
        declared = [*inherited, *declared]
    else:
        if "step_changes" in base_data:
            raise CatalogueError(f"{label}: step_changes: only a file that extends a base has them")
        base = {key: value for key, value in base_data.items() if key not in OWN_KEYS}
        chain = (*chain, label)
    own = {key: value for key, value in data.items() if key not in OWN_KEYS}
    merged = _merge(own, base)
    if "step_changes" in data:
        if "steps" in own:
            raise CatalogueError(f"{file}: steps: give either steps or step_changes, not both")
        merged["steps"] = _change_steps(base.get("steps"), data["step_changes"], file)
    return merged, declared, chain


def _merge(own: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for key, value in own.items():
        below = base.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            merged[key] = _merge(value, below)
        else:
            merged[key] = value
    for key, value in base.items():
        merged.setdefault(key, value)
    return merged


def _change_steps(steps: Any, changes: Any, file: str) -> list[Any]:
    if not isinstance(steps, list):
        raise CatalogueError(f"{file}: step_changes: the base has no list of steps")
    if not isinstance(changes, list):
        raise CatalogueError(f"{file}: step_changes: expected a list")
    result = list(steps)
    for index, change in enumerate(changes):
        where = f"{file}: step_changes[{index}]"
        if not isinstance(change, dict):
            raise CatalogueError(f"{where}: expected a mapping")
        kinds = [kind for kind in STEP_CHANGES if kind in change]
        if len(kinds) != 1:
            raise CatalogueError(f"{where}: give exactly one of {', '.join(STEP_CHANGES)}")
        kind = kinds[0]
        unknown = sorted(str(key) for key in set(change) - {kind, "step"})
        if unknown or (kind == "remove" and "step" in change):
            raise CatalogueError(f"{where}: unknown keys {unknown or ['step']}")
        step_id = change[kind]
        ids = [step.get("id") if isinstance(step, dict) else None for step in result]
        if step_id not in ids:
            listed = ", ".join(str(i) for i in ids if i is not None)
            raise CatalogueError(f"{where}: {kind}: no step {step_id!r} (the steps: {listed})")
        at = ids.index(step_id)
        if kind == "remove":
            del result[at]
            continue
        step = change.get("step")
        if not isinstance(step, dict):
            raise CatalogueError(f"{where}: step: expected the step's fields")
        if kind in ("replace", "change"):
            if step.get("id", step_id) != step_id:
                raise CatalogueError(
                    f"{where}: step: id {step['id']!r} is not {step_id!r}; a new step is inserted"
                )
            result[at] = {"id": step_id, **step} if kind == "replace" else {**result[at], **step}
        else:
            if "id" not in step:
                raise CatalogueError(f"{where}: step: an inserted step needs an id")
            result.insert(at if kind == "insert_before" else at + 1, step)
    return result


def _fill(data: Any, values: Mapping[str, str]) -> Any:
    if not values:
        return data
    pattern = re.compile(r"\{(" + "|".join(map(re.escape, values)) + r")\}")

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub(lambda match: values[match.group(1)], value)
        if isinstance(value, dict):
            return {key: fill(item) for key, item in value.items()}
        if isinstance(value, list):
            return [fill(item) for item in value]
        return value

    return fill(data)
