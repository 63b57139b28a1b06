"""Exports of the inventory, one module per format, each with
`export(connection, where: DeviceFilter, args, out: TextIO) -> None`:
csv (a CMMS import), json (the API's device list), fhir (FHIR R4 Device Bundle);
mud and nftables (h-risk)."""
