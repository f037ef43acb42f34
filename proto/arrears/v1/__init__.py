"""Generated protobuf and gRPC code for package arrears.v1; regenerate with `make proto`."""
