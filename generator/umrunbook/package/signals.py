"""Ctrl-C and SIGTERM noted instead of raised, where an exception at any instruction
would do harm: in the middle of moving files into place, or inside the process pool's own
locks (an interrupted pool can hang)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

QUIET = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def signals_deferred() -> Iterator[list[int]]:
    """Ctrl-C and SIGTERM are noted, not acted on, until the block is done: the caller
    then says the package is complete."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def note(signum: int, _frame: FrameType | None) -> None:
        caught.append(signum)

    previous = {sig: signal.signal(sig, note) for sig in QUIET}
    try:
        yield caught
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


@contextmanager
def ignored_by_children() -> Iterator[None]:
    """A process started in the block ignores Ctrl-C and SIGTERM from its first instruction
    (an ignored disposition survives exec, and Python then installs no handler of its own);
    a signal for this process meanwhile waits, blocked, and is delivered after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, QUIET)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in QUIET}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
