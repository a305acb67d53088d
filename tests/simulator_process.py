"""Stopping a simulator process the way every simulator test checks it: SIGTERM, a clean exit, nothing printed
after the ready line, no traceback in its log."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path


def stop_simulator(proc: subprocess.Popen[bytes], log_path: Path, *, timeout: float = 5.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    finally:
        assert proc.stdout is not None
        rest = proc.stdout.read()
        proc.stdout.close()
    log = log_path.read_text()
    assert code == 0, log
    assert rest == b"", "the simulator must print nothing after the ready line"
    assert "Traceback" not in log, log
