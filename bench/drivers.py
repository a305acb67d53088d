"""Benchmark: every driver family against its simulator, each with the raw library's own loop as baseline.

    python bench/drivers.py

Runs bench/drivers_modbus.py, drivers_serial.py, drivers_mqtt.py (needs Mosquitto) and drivers_runfolder.py in
turn with short settings and prints their figures; run any of them alone for longer measurements.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = [
    ("Modbus TCP round trips", ["drivers_modbus.py", "--seconds", "2", "--rounds", "3"]),
    ("serial request/response over a pty", ["drivers_serial.py"]),
    ("MQTT messages ingested", ["drivers_mqtt.py"]),
    ("run-folder watcher polls", ["drivers_runfolder.py"]),
]


def main() -> None:
    for title, args in RUNS:
        print(f"\n== {title}", flush=True)
        if args[0] == "drivers_mqtt.py" and not shutil.which("mosquitto"):
            print("skipped: Mosquitto is not installed")
            continue
        subprocess.run([sys.executable, str(HERE / args[0]), *args[1:]], check=False)


if __name__ == "__main__":
    main()
