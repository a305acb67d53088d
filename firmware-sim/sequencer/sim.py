"""Entry point of the sequencer simulator: ``python firmware-sim/sequencer/sim.py --source RUN --out DIR``.

It replays a real Illumina run folder's life cycle into a directory over time, as the instrument would have
written it, so that the run-folder watcher is tested against files it did not shape. Standard library only;
this file puts ``firmware-sim/`` on ``sys.path`` and runs ``sequencer.cli``; it imports nothing of TracSeq.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sequencer.cli import main

if __name__ == "__main__":
    sys.exit(main())
