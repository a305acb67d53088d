"""The sagas tables. (Filled in by the sagas module.)"""

from __future__ import annotations
