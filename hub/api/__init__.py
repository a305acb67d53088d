"""The FastAPI layer: routes translate HTTP to domain calls."""
