"""Simulated Illumina sequencer: replays a run folder's life cycle into a directory (see README.md)."""
