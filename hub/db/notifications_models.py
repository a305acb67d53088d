"""The notifications tables. (Filled in by the notifications module.)"""

from __future__ import annotations
