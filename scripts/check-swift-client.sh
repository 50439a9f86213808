#!/usr/bin/env bash
# Proves that a downstream Swift package can depend on Earshot by version and use EarshotClient, exactly as
# examples/swift/README.md tells it to, and that such a client-only consumer resolves only what the client needs.
#
#   scripts/check-swift-client.sh            (make test runs it; about two minutes: it builds SwiftNIO once)
#
# It makes a bare repository of this checkout's HEAD named earshot.git in a temporary folder, tags it with the
# version the README's snippet asks for, writes a consumer whose Package.swift holds the README's two lines (the
# URL replaced by the bare repository's file:// URL; the `package:` name is unchanged, since a package's identity is
# the last path component of its URL), builds it and runs it. Then it checks what was resolved and built: with
# `traits: []` (no Daemon trait) SwiftPM resolves Earshot, SwiftNIO and SwiftNIO's own dependencies only, and builds
# EarshotClient's closure: nothing of gRPC, NIO SSL, protobuf, Prometheus, the argument parser, the service
# lifecycle, logging, metrics or crypto. Uncommitted changes are not seen: it tests what HEAD holds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
SWIFT=${SWIFT:-swift}
readme="$root/examples/swift/README.md"

# The snippet: the two lines between the markers in the README.
snippet=$(sed -n '/<!-- downstream-snippet -->/,/<!-- \/downstream-snippet -->/p' "$readme" | grep -E '^(dependencies|targets):')
[ "$(printf '%s\n' "$snippet" | wc -l)" -eq 2 ] || { echo "check-swift-client: no snippet in $readme" >&2; exit 1; }
url=$(printf '%s\n' "$snippet" | sed -n 's/.*\.package(url: "\([^"]*\)".*/\1/p')
version=$(printf '%s\n' "$snippet" | sed -n 's/.*from: "\([^"]*\)".*/\1/p')
[ -n "$url" ] && [ -n "$version" ] || { echo "check-swift-client: the snippet names no url and version" >&2; exit 1; }

work=$(mktemp -d /tmp/earshot-client-check-XXXXXX)
trap 'rm -rf "$work"' EXIT
git clone --quiet --bare --no-tags --single-branch "$root" "$work/earshot.git"
git -C "$work/earshot.git" tag "$version" HEAD

mkdir -p "$work/consumer/Sources/MyApp"
{
    echo '// swift-tools-version:6.1'   # traits: in a dependency came with 6.1
    echo 'import PackageDescription'
    echo 'let package = Package('
    echo '    name: "MyApp",'
    printf '%s\n' "$snippet" | sed "s|$url|file://$work/earshot.git|; s/^/    /"
    echo ')'
} >"$work/consumer/Package.swift"
cat >"$work/consumer/Sources/MyApp/main.swift" <<'SWIFT'
import EarshotClient

// A socket nobody listens on: the client must say so with a readable error.
do {
    try await EarshotConnection.withConnection(to: CommandLine.arguments[1]) { _ in }
    print("connected?")
} catch {
    print("error: \(error)")
}
SWIFT
echo "check-swift-client: building a consumer of EarshotClient $version from $work/earshot.git"
cat "$work/consumer/Package.swift"
(cd "$work/consumer" && "$SWIFT" build 2>&1 | tail -5)
out=$(cd "$work/consumer" && "$SWIFT" run --skip-build MyApp "$work/nobody.sock")
echo "check-swift-client: MyApp says: $out"
case $out in
    error:*nobody.sock*) ;;
    *) echo "check-swift-client: expected an error naming the socket" >&2; exit 1 ;;
esac

resolved=$(sed -n 's/.*"identity" : "\([^"]*\)".*/\1/p' "$work/consumer/Package.resolved" | sort | tr '\n' ' ')
echo "check-swift-client: resolved: $resolved"
for unwanted in grpc-swift-2 grpc-swift-nio-transport grpc-swift-protobuf swift-protobuf swift-nio-ssl swift-crypto \
                swift-prometheus swift-argument-parser swift-service-lifecycle swift-metrics swift-log; do
    case " $resolved " in
        *" $unwanted "*) echo "check-swift-client: a client-only consumer resolved $unwanted" >&2; exit 1 ;;
    esac
done
# A module was built when its folder holds object files (SwiftPM makes a folder for every module it plans).
built=$(cd "$work/consumer/.build/debug" && for d in *.build; do
    if compgen -G "$d/*.o" >/dev/null; then echo "${d%.build}"; fi; done | sort | tr '\n' ' ')
echo "check-swift-client: built: $built"
for unwanted in GRPCCore GRPCNIOTransportCore GRPCProtobuf SwiftProtobuf NIOSSL Prometheus ArgumentParser \
                ServiceLifecycle CoreMetrics Logging EarshotServer EarshotGRPC Gemma4Audio Kernels; do
    case " $built " in
        *" $unwanted "*) echo "check-swift-client: a client-only consumer built $unwanted" >&2; exit 1 ;;
    esac
done
case " $built " in *" EarshotClient "*) ;; *) echo "check-swift-client: EarshotClient was not built" >&2; exit 1 ;; esac
echo "check-swift-client: ok"
