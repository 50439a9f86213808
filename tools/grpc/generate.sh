#!/bin/sh
# Regenerates the committed gRPC code from proto/ (CI does not run this: the generated files are committed, so a
# build never needs protoc or its plugins).
#
#   Sources/EarshotGRPC/Generated/   Swift: messages (protoc-gen-swift, apple/swift-protobuf 1.39.0) and the
#                                    service and client (protoc-gen-grpc-swift-2, grpc/grpc-swift-protobuf 2.4.1)
#   clients/python/earshot/grpc_stubs/  Python: messages and stubs (grpcio-tools' protoc) for the earshot package
#
# Needs: protoc (Debian: apt-get install protobuf-compiler), python3 with grpcio-tools (pip install grpcio-tools),
# and the two Swift plugins, built once outside this repository, e.g.:
#
#   git clone /opt/swift-packages/grpc/grpc-swift-protobuf.git /tmp/grpcgen/gsp   (or from GitHub)
#   cd /tmp/grpcgen/gsp && git checkout 2.4.1
#   swift build --product protoc-gen-grpc-swift-2 && swift build --product protoc-gen-swift
#
# (about ten minutes on two cores), then:
#
#   PLUGINS=/tmp/grpcgen/gsp/.build/debug tools/grpc/generate.sh
#
# Use the plugin versions above: the generated code must match the runtime versions Package.swift names.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
: "${PLUGINS:?set PLUGINS to the folder holding protoc-gen-swift and protoc-gen-grpc-swift-2}"
PROTOC=${PROTOC:-protoc}
PYTHON=${PYTHON:-python3}

swift_out=Sources/EarshotGRPC/Generated
rm -f "$swift_out"/*.pb.swift "$swift_out"/*.grpc.swift
mkdir -p "$swift_out"
for proto in earshot/v1/earshot.proto grpc/health/v1/health.proto; do
    "$PROTOC" -I proto \
        --plugin=protoc-gen-swift="$PLUGINS/protoc-gen-swift" \
        --swift_out="$swift_out" \
        --swift_opt=Visibility=Package,FileNaming=PathToUnderscores \
        --plugin=protoc-gen-grpc-swift-2="$PLUGINS/protoc-gen-grpc-swift-2" \
        --grpc-swift-2_out="$swift_out" \
        --grpc-swift-2_opt=Visibility=Package,FileNaming=PathToUnderscores,Server=true,Client=true \
        "$proto"
done

# Mapping proto/earshot/v1 to earshot/grpc_stubs makes the generated stubs import `earshot.grpc_stubs.earshot_pb2`:
# they live inside the Python client package (clients/python), its gRPC extra.
python_out=clients/python
stubs=$python_out/earshot/grpc_stubs
rm -f "$stubs"/earshot_pb2*.py "$stubs"/earshot_pb2*.pyi
mkdir -p "$stubs"
"$PYTHON" -m grpc_tools.protoc -I earshot/grpc_stubs=proto/earshot/v1 \
    --python_out="$python_out" --pyi_out="$python_out" --grpc_python_out="$python_out" \
    earshot/grpc_stubs/earshot.proto
echo "regenerated $swift_out and $stubs"
