"""The websocket service: server, credentials, event buses, metrics, logs, web pages."""
