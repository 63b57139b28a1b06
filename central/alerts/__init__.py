"""Alerts: a new finding becomes one alert per (finding id, device, peer), then updated
counts, rate-limited; delivered over MQTT (signed), a webhook (JSON) and syslog (RFC 5424
with a CEF payload); acknowledged and closed by people through the page or the API.

    book.py      dedupe, rate limit, acknowledge/close (the alerts table)
    message.py   the alert as JSON, as a wire alert record, as CEF
    mqtt.py, webhook.py, syslog.py   one delivery channel each
    dispatch.py  the configured channels together
"""
