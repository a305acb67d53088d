"""Sequencing routes. (Filled in by the sequencing module.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["sequencing"])
