"""Entry point of the -80 °C freezer simulator: ``python firmware-sim/freezer/sim.py --tcp 127.0.0.1:5020``.

Why a hand-written Modbus server rather than pymodbus's server side: the faults need control that pymodbus
makes awkward. "unresponsive" must read and drop requests while keeping the connection open, "exception" must
answer every read with exception 4, and unknown unit ids must go unanswered on RTU; pymodbus 3.16 marks its
datastore classes deprecated and its SimData/SimDevice replacement experimental, and ModbusSequentialDataBlock
has address-0 quirks. The device side of Modbus (MBAP, RTU CRC, eight function codes) is a few hundred lines,
so the simulator owns its wire behaviour, needs nothing but the standard library and cannot drift with a
pymodbus upgrade. Clients (the edge, the tests) use pymodbus, which checks the simulator against an
independent Modbus implementation.

This file only puts ``firmware-sim/`` on ``sys.path`` and runs ``freezer.cli``; it imports nothing of TracSeq.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from freezer.cli import main

if __name__ == "__main__":
    sys.exit(main())
