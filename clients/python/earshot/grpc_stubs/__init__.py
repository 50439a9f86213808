"""Python stubs for Earshot's gRPC service, generated from proto/earshot/v1/earshot.proto by tools/grpc/generate.sh.

Do not edit earshot_pb2*.py: change the .proto and regenerate. Needs `grpcio` and `protobuf`: the package's grpc extra,
pip install "earshot-client[grpc]".
"""
