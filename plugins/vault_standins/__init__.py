"""Stand-ins for the systems the built-in connectors cover, for tests and the demo.

Each speaks the protocol the connector uses for the real system, on loopback:
Moodle's web-service REST protocol, an accounting REST API with bearer tokens,
a salon database reached by DSN, and the model-bank group's register of
blocked members. The connectors do not know they talk to a stand-in.
"""
