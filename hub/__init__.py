"""The hub: FastAPI service, lab domain, events, sagas, alerts, notifications and AI."""
