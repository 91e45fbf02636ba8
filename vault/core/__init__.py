"""The domain core: plain Python that knows nothing of gRPC, protobuf or any connector."""
