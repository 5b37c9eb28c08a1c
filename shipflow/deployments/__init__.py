"""How flows run: local services for the demo, the webhook receiver, serve entry points."""
