"""Simulated -80 °C ultra-low freezer controller speaking Modbus TCP and RTU (vendor firmware stand-in)."""
