"""The edge agent: device supervisors, the local signed log store, offline alarms, export and sync."""
