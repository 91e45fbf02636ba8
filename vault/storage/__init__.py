"""Storage behind interfaces: the core talks to `KeyStore` and `RecordStore` only."""
