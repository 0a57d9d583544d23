"""HTTP and WebSocket routes of the web UI, one module per area."""
