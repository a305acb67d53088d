"""``python -m hub.sagas …``: the sagas CLI on its own (the same commands as ``tracseq hub sagas``)."""

from __future__ import annotations

from hub.sagas.cli import app

if __name__ == "__main__":
    app()
