#!/bin/sh
# Regenerates the committed gRPC code from proto/ (CI does not run this: the generated files are committed, so a
# build never needs protoc or its plugins).
#
#   Sources/EarshotGRPC/Generated/   Swift: messages (protoc-gen-swift, apple/swift-protobuf 1.39.0) and the
#                                    service and client (protoc-gen-grpc-swift-2, grpc/grpc-swift-protobuf 2.4.1)
#   examples/python/earshot_grpc/    Python: messages and stubs (grpcio-tools' protoc)
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

# The Python package is `earshot_grpc`: mapping proto/earshot/v1 to it makes the generated stubs import
# `earshot_grpc.earshot_pb2`, so examples/python only needs itself on the path.
python_out=examples/python
rm -f "$python_out"/earshot_grpc/earshot_pb2*.py "$python_out"/earshot_grpc/earshot_pb2*.pyi
mkdir -p "$python_out/earshot_grpc"
"$PYTHON" -m grpc_tools.protoc -I earshot_grpc=proto/earshot/v1 \
    --python_out="$python_out" --pyi_out="$python_out" --grpc_python_out="$python_out" \
    earshot_grpc/earshot.proto
echo "regenerated $swift_out and $python_out/earshot_grpc"
