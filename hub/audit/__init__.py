"""The hub's Part 11 audit trail, in the same signed log format as the edge's."""

from hub.audit.trail import REGULATED_ACTIONS, AuditTrail, log_value

__all__ = ["REGULATED_ACTIONS", "AuditTrail", "log_value"]
