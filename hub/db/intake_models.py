"""The intake tables. (Filled in by the intake module.)"""

from __future__ import annotations
