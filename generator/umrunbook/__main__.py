"""`python -m umrunbook` and the `umrunbook` command.

The command line's modules (typer, click, rich) take a moment to import: a Ctrl-C in that
moment is told as any other, never shown as a traceback.
"""

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        # Answered before the command line's modules are imported: a third of the start-up.
        from umrunbook.library import version_text

        print(version_text())
        return
    try:
        from umrunbook.cli import main as command_line
    except KeyboardInterrupt:
        print("interrupted; nothing was written.", file=sys.stderr)
        sys.exit(1)
    command_line()


# Guarded: worker processes (render --jobs) import the main module without running it.
if __name__ == "__main__":
    main()
