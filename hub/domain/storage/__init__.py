"""Storage: where every sample is, whether it is cold enough there, and what to do when a unit warms up.

A tree of containers (site › room › unit › shelf/rack/drawer/tower › box) whose units set the temperature zone for
everything inside; boxes have a grid of positions, one database row each. Samples go in and out only in
all-or-nothing batches, through ``Samples.transition_many`` when their state changes, with an audit entry per
sample and an event per box. Units are bound to edge channels; a limit alarm on a bound channel opens an excursion
that remembers every sample inside, and one call puts them all on hold.

``layout`` (grids, structure and zone rules) and ``allocation`` (allocation planning) are pure: no I/O. The
service, ``Storage``, is made of one part per group of operations: ``containers``, ``views``, ``placement``,
``bindings`` and ``excursions``, over ``base``.
"""

from hub.domain.storage.allocation import BoxSpace, SampleNeed, Slot, plan_allocation
from hub.domain.storage.base import DEFAULT_WARN_AT_PCT, Occupancy
from hub.domain.storage.bindings import Binding
from hub.domain.storage.containers import ContainerChanges, NewContainer
from hub.domain.storage.errors import NoRoomError, PositionTakenError, ZoneMismatchError
from hub.domain.storage.excursions import EXCURSION_RULES, ExposedSample, HoldOutcome
from hub.domain.storage.layout import (
    BOX,
    BOX_KINDS,
    UNIT_KINDS,
    check_grid,
    check_structure,
    grid_positions,
    natural_key,
    over_threshold,
    parse_position,
    position_index,
    position_label,
    zone_fits,
)
from hub.domain.storage.placement import PLACEABLE, Placed, Placement
from hub.domain.storage.service import Storage
from hub.domain.storage.views import BoxView, Cell, ContainerView, Located

__all__ = [
    "BOX",
    "BOX_KINDS",
    "DEFAULT_WARN_AT_PCT",
    "EXCURSION_RULES",
    "PLACEABLE",
    "UNIT_KINDS",
    "Binding",
    "BoxSpace",
    "BoxView",
    "Cell",
    "ContainerChanges",
    "ContainerView",
    "ExposedSample",
    "HoldOutcome",
    "Located",
    "NewContainer",
    "NoRoomError",
    "Occupancy",
    "Placed",
    "Placement",
    "PositionTakenError",
    "SampleNeed",
    "Slot",
    "Storage",
    "ZoneMismatchError",
    "check_grid",
    "check_structure",
    "grid_positions",
    "natural_key",
    "over_threshold",
    "parse_position",
    "plan_allocation",
    "position_index",
    "position_label",
    "zone_fits",
]
