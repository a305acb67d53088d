"""ai routes. (Filled in by the ai module.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["ai"])
