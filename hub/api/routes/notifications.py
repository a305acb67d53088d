"""Notifications routes. (Filled in by the notifications module.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["notifications"])
