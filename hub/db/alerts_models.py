"""The alerts tables. (Filled in by the alerts module.)"""

from __future__ import annotations
