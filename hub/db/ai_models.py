"""The ai tables. (Filled in by the ai module.)"""

from __future__ import annotations
