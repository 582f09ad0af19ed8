"""WinSCP's documented script syntax, as far as the transfer files use it (WinSCP cannot run
here): commands split as WinSCP splits them, and each command, switch and option value checked
against the documentation (winscp.net/eng/docs, see tests/test_transfer.py)."""

from __future__ import annotations

WINSCP_SWITCHES = {
    "open": {"-hostkey"},
    "put": {"-transfer", "-resumesupport"},
    "get": {"-transfer", "-preservetime"},
    "option": set(),
    "cd": set(),
    "ls": set(),
    "mv": set(),
    "exit": set(),
}
OPTIONS = {"batch": {"off", "on", "abort", "continue"}, "confirm": {"off", "on"}}
OPTIONS["failonnomatch"] = {"off", "on"}


def winscp_tokens(line: str) -> list[str]:
    """A WinSCP command split as WinSCP does: spaces separate parameters; a double-quoted part
    may hold spaces; inside quotes a doubled '"' is one literal '"'."""
    tokens: list[str] = []
    current = ""
    quoted = False
    started = False
    index = 0
    while index < len(line):
        char = line[index]
        if char == '"':
            if quoted and line[index + 1 : index + 2] == '"':
                current += '"'
                index += 2
                continue
            quoted = not quoted
            started = True
        elif char == " " and not quoted:
            if started:
                tokens.append(current)
            current, started = "", False
        else:
            current += char
            started = True
        index += 1
    assert not quoted, f"unbalanced quotes: {line}"
    if started:
        tokens.append(current)
    return tokens


def assert_documented(commands: list[list[str]], switches: dict[str, set[str]]) -> None:
    """Every command, switch and option value is one WinSCP documents."""
    for command in commands:
        name, *params = command
        assert name in switches, command
        for param in params:
            if param.startswith("-"):
                assert param.split("=", 1)[0] in switches[name], command
        if name == "option":
            assert params[1] in OPTIONS[params[0]], command


def winscp_commands(script: str) -> list[list[str]]:
    lines = script.split("\r\n")
    return [winscp_tokens(line) for line in lines if line.strip() and not line.startswith("#")]
