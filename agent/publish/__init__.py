"""Delivery to the broker: transport (paho-mqtt), reconnect backoff, the spool drainer."""
