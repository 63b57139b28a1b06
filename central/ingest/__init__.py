"""Ingest: sensors' signed messages from the broker into the inventory database.

apply.py stores one verified message in one transaction (idempotent); runner.py
subscribes (MQTT 5 shared subscription), verifies with agent.consumer, retries a
database that went away, and acknowledges a message only after its commit.
"""
