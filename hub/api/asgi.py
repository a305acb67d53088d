"""The ASGI entry point for uvicorn: settings from the environment, built when the server imports this module."""

from hub.api.app import create_app
from hub.logs import configure_logging
from hub.settings import HubSettings

_settings = HubSettings()
configure_logging(_settings)  # also in each worker process uvicorn starts
app = create_app(_settings)
