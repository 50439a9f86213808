#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer (clang's, shipped in the Swift toolchain).
#
#   scripts/fuzz.sh TARGET [SECONDS]   build Fuzz/TARGET and fuzz it for SECONDS (default 60)
#   scripts/fuzz.sh all SECONDS        every target under Fuzz/, one after the other
#
# A target is a folder Fuzz/<Name>/ holding Harness.swift (an @_cdecl("LLVMFuzzerTestOneInput") entry point), a
# file `modules` naming the Sources/ modules it is compiled with (one a line, dependencies first; the harness
# becomes part of the last one, so it sees that module's internal API; the ones before it are built as modules of
# their own, so their `import`s resolve; a C system-library module, one with a module.modulemap, is only put on
# the include path, and its `link` line links the library), and a small seed corpus corpus/. The harness is built
# with swiftc -sanitize=fuzzer,address in the scratch directory .build-fuzz (again only when a source is newer than the
# binary), outside SwiftPM, so the package's own builds never see it. Each run starts from a
# temporary copy of the corpus (the committed one does not grow) and fails, non-zero, on the first crash, trap,
# sanitizer report, leak or timeout; the input that did it is kept in .build-fuzz/artifacts/<Name>/.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    echo "usage: $0 TARGET [SECONDS] | all SECONDS   (targets: $(ls Fuzz | grep -v README | tr '\n' ' '))" >&2
    exit 2
}
[ $# -ge 1 ] || usage
scratch=.build-fuzz

build() {   # build NAME: compiles the harness of Fuzz/NAME into .build-fuzz/FuzzNAME
    local name=$1 module modules=() files=() libraries
    if [ ! -f "Fuzz/$name/Harness.swift" ] || [ ! -f "Fuzz/$name/modules" ]; then
        echo "no fuzz target Fuzz/$name" >&2
        exit 2
    fi
    while read -r module; do
        [ -n "$module" ] && modules+=("$module")
    done <"Fuzz/$name/modules"
    for module in "${modules[@]}"; do
        mapfile -t -O "${#files[@]}" files < <(find "Sources/$module" -name '*.swift' -o -name '*.h' | sort)
    done
    mkdir -p "$scratch"
    if [ -x "$scratch/Fuzz$name" ] && [ -z "$(find "${files[@]}" "Fuzz/$name" -newer "$scratch/Fuzz$name" \
            -not -path "Fuzz/$name/corpus*" | head -n 1)" ]; then
        echo "Fuzz$name is up to date"
        return
    fi
    echo "building Fuzz$name (${#files[@]} source files of ${modules[*]})"
    libraries=$scratch/modules-$name
    rm -rf "$libraries"
    mkdir -p "$libraries"
    local flags=(-parse-as-library -sanitize=fuzzer,address -O -g -swift-version 6 -package-name Earshot)
    local linked=() sources
    for module in "${modules[@]::${#modules[@]}-1}"; do   # each dependency: a static library and its module
        if [ -f "Sources/$module/module.modulemap" ]; then   # a C system library: its module map is enough
            flags+=(-I "Sources/$module")
            continue
        fi
        mapfile -t sources < <(find "Sources/$module" -name '*.swift' | sort)
        swiftc "${flags[@]}" -I "$libraries" -module-name "$module" -emit-module \
            -emit-module-path "$libraries/$module.swiftmodule" -emit-library -static \
            -o "$libraries/lib$module.a" "${sources[@]}" >"$scratch/build-$name.log" 2>&1 \
            || { cat "$scratch/build-$name.log" >&2; exit 1; }
        linked=("-l$module" "${linked[@]}")    # dependents before their dependencies: static libraries link in order
    done
    mapfile -t sources < <(find "Sources/${modules[-1]}" -name '*.swift' | sort)
    swiftc "${flags[@]}" -I "$libraries" -L "$libraries" "${linked[@]}" -module-name "Fuzz$name" "${sources[@]}" \
        "Fuzz/$name/Harness.swift" -o "$scratch/Fuzz$name" \
        >"$scratch/build-$name.log" 2>&1 || { cat "$scratch/build-$name.log" >&2; exit 1; }
}

run() {   # run NAME SECONDS
    local name=$1 seconds=$2 work corpus log status
    work=$(mktemp -d)                 # the corpus copy, the log and the harness's scratch files
    corpus=$work/corpus
    log=$work/log
    mkdir "$corpus"
    cp -R "Fuzz/$name/corpus/." "$corpus/"
    mkdir -p "$scratch/artifacts/$name"
    echo "fuzzing $name for $seconds s"
    status=0
    # The Swift runtime's own backtracer would race libFuzzer's crash handler; libFuzzer and ASan report crashes.
    # A target's lsan.supp names leaks in system libraries it cannot fix (one a line, with the reason beside it).
    local suppressions=""
    [ -f "Fuzz/$name/lsan.supp" ] && suppressions="suppressions=$PWD/Fuzz/$name/lsan.supp"
    LSAN_OPTIONS="${suppressions}" \
    SWIFT_BACKTRACE=enable=no TMPDIR="$work" "$scratch/Fuzz$name" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$scratch/artifacts/$name/" \
        "$corpus" >"$log" 2>&1 || status=$?
    local executions
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$log" >&2
        echo "fuzz $name: FAILED (exit $status) after ${executions:-?} executions;" \
             "input in $scratch/artifacts/$name/" >&2
        rm -rf "$work"
        return 1
    fi
    rm -rf "$work"
    echo "fuzz $name: ${executions:-?} executions in $seconds s, no crash"
}

target=$1
if [ "$target" = all ]; then
    [ $# -eq 2 ] || usage
    failed=0
    for dir in Fuzz/*/; do
        name=$(basename "$dir")
        build "$name"
        run "$name" "$2" || failed=1
    done
    exit $failed
fi
build "$target"
run "$target" "${2:-60}"
