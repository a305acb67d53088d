"""What every fuzz test shares: how many examples to run, the per-example deadline, and a watchdog for hangs.

The in-suite run is short (each property's ``max_examples`` is tuned so that ``tests/fuzz`` takes well under a
minute on a two-core machine). A campaign raises every property to ``TRACSEQ_FUZZ_EXAMPLES`` examples
(``make fuzz``); the deadline and the watchdog stay, so a slow or hanging input fails with the input shown.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from types import FrameType
from typing import Any, ParamSpec, TypeVar

from hypothesis import HealthCheck, settings

P = ParamSpec("P")
R = TypeVar("R")

CAMPAIGN = int(os.environ.get("TRACSEQ_FUZZ_EXAMPLES", "0") or 0)
DEADLINE = timedelta(seconds=2)  # hypothesis: an example over this (twice in a row) fails the property
HANG_S = 10  # the watchdog: an example still running after this is a hang, whatever hypothesis thinks


def fuzz_settings(examples: int) -> settings:
    """``examples`` in the suite, ``TRACSEQ_FUZZ_EXAMPLES`` in a campaign (whichever is larger)."""
    return settings(
        max_examples=max(examples, CAMPAIGN),
        deadline=DEADLINE,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        derandomize=not CAMPAIGN,  # the suite is reproducible; a campaign explores
        database=None if not CAMPAIGN else settings.default.database,
    )


class HangError(Exception):
    """An example ran longer than the watchdog allows."""


@contextlib.contextmanager
def watchdog(seconds: float = HANG_S) -> Iterator[None]:
    """Raise ``HangError`` in the example after ``seconds`` (a Python-level loop), and dump every thread's stack and
    end the process after twice that (a loop in C that never returns to the interpreter), so a hang is never a
    run that does not finish."""
    main = threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM")
    faulthandler.dump_traceback_later(seconds * 2, exit=True, file=sys.stderr)
    previous: Any = None
    if main:

        def expire(_signum: int, _frame: FrameType | None) -> None:
            raise HangError(f"an example ran for more than {seconds} s")

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if main:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        faulthandler.cancel_dump_traceback_later()


def typed(call: Callable[[], R], *allowed: type[BaseException]) -> R | None:
    """``call()``'s value, or None when it raised one of ``allowed``; any other exception propagates (and fails
    the property). Runs under the watchdog."""
    with watchdog():
        try:
            return call()
        except allowed:
            return None
