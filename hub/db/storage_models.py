"""The storage tables. (Filled in by the storage module.)"""

from __future__ import annotations
