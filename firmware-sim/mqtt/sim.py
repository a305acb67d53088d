"""Entry point of the room sensor simulator: ``python firmware-sim/mqtt/sim.py --broker 127.0.0.1:1883``.

Plays a room's environmental sensors (temperature, humidity, CO2 and, for LN2 rooms, O2) as a third-party
gateway would: one JSON message per sensor per interval, QoS 1, over a real MQTT broker, with faults injected
through a JSON-lines control socket. It uses aiomqtt as a client library and imports nothing of TracSeq: this
file only puts ``firmware-sim/`` on ``sys.path`` and runs ``mqtt.cli``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mqtt.cli import main

if __name__ == "__main__":
    sys.exit(main())
