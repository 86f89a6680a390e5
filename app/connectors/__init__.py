"""Game connectors: where frames come from and where actions go. See ``base.Connector``."""
