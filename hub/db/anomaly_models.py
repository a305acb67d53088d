"""The anomaly tables. (Filled in by the anomaly module.)"""

from __future__ import annotations
