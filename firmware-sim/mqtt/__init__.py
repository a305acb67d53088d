"""Room sensor simulator (temperature, humidity, CO2, O2) publishing to an MQTT broker, and a local broker."""
