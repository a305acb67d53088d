"""Store-and-forward sync between edge and hub, storage-agnostic."""
