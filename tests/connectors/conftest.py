"""Connector tests use the stand-in fixtures from tests/conftest.py."""
