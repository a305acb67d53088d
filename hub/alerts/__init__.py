"""Alerts: the facility's alert feed, lifecycle, escalation. (Filled in by the alerts module.)"""
