"""The ASGI entry point for uvicorn: settings from the environment, built when the server imports this module."""

from hub.api.app import create_app
from hub.settings import HubSettings

app = create_app(HubSettings())
