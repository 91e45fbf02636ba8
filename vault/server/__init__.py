"""The gRPC edge: thin translators between vault.v1 messages and the core."""
