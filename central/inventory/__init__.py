"""The inventory: devices, their addresses, fingerprints, services, peers and history.

`queries` reads (API-shaped dicts for the web, the API and the exports); `store` writes
what ingest decoded; `labels` records a person's override.
"""
