"""Alerts routes. (Filled in by the alerts module.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["alerts"])
