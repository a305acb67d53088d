"""Domain logic of the hub (no FastAPI imports here)."""
