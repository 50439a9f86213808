#!/usr/bin/env bash
# Man pages from the commands' own help: swift-argument-parser's generate-manual (the tool behind its
# generate-manual plugin) run on the built earshot and earshotd.
#
#   packaging/man-pages.sh BIN_DIR OUT_DIR DATE
#
# BIN_DIR is the static release build's (`make release-static`), where `swift build --target generate-manual` also
# compiled the tool's objects. The plugin itself is not used: `swift package` has no --static-swift-stdlib, so the
# plugin's own build would relink the static executables without it. SwiftPM names an executable target's entry
# point <module>_main (so tests can link it); the link here points main at it.
set -euo pipefail
bin=${1:?usage: packaging/man-pages.sh BIN_DIR OUT_DIR DATE}
out=${2:?usage: packaging/man-pages.sh BIN_DIR OUT_DIR DATE}
date=${3:?usage: packaging/man-pages.sh BIN_DIR OUT_DIR DATE}
tool="$bin/generate-manual"
objects=("$bin"/generate_manual.build/*.o "$bin"/ArgumentParser.build/*.o "$bin"/ArgumentParserToolInfo.build/*.o)
stale=0
[ -x "$tool" ] || stale=1
for object in "${objects[@]}"; do [ "$object" -nt "$tool" ] && stale=1; done
if [ "$stale" = 1 ]; then
    swiftc -static-stdlib -Xlinker --defsym -Xlinker main=generate_manual_main -o "$tool" "${objects[@]}" \
        2> >(grep -v "the use of \`mktemp' is dangerous" >&2)
fi
rm -rf "$out"
mkdir -p "$out"
for command in earshot earshotd; do
    "$tool" "$bin/$command" --date "$date" --output-directory "$out"
    # A blank line inside a discussion is a paragraph break to the help text, but an empty input line to groff.
    sed -i 's/^$/.Pp/' "$out/$command.1"
done
