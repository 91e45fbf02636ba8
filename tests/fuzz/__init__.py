"""Fuzzing every RPC with requests built from the API's descriptors."""
