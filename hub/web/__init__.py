"""The hub's web pages, served at ``/ui`` beside the API: sign-in, the facilities board with live temperatures and
alert acknowledgement, samples and storage, sequencing, and the audit page. Server-rendered (Jinja2), one small
script for the live parts; every page needs a signed-in person with the permission the API would ask for."""

from hub.web.site import build_pages, mount_pages

__all__ = ["build_pages", "mount_pages"]
