"""``python -m protocol``: the same root command as ``tracseq``."""

from protocol.cli import main

main()
