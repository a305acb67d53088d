"""The sequencing tables. (Filled in by the sequencing module.)"""

from __future__ import annotations
