#!/usr/bin/env bash
# Builds one libFuzzer target and runs it:
#   Fuzz/run.sh TARGET SECONDS [libFuzzer flags...]   fuzz, starting from Fuzz/seeds/TARGET
#   Fuzz/run.sh TARGET reseed                         rewrite Fuzz/seeds/TARGET from the corpus
# Targets: proxy-parser, access-list, address, config-loader, admin-request, client-hello (see Fuzz/Targets/).
# Fuzz/seeds/TARGET (in git) is a minimised seed set: every edge the full corpus reached, plus the
# hand-written seed-* inputs. The full corpus grows in Fuzz/corpus/TARGET (not in git); a fresh
# checkout regenerates it by fuzzing. Crashes land in Fuzz/crashes/TARGET/ (not in git).
#
# SwiftPM cannot give one executable libFuzzer's main without touching Package.swift, so the
# harness is compiled with swiftc together with the BasculeProxy files it exercises, as a
# module named BasculeProxy, against BasculeConfig, BasculePosix and BasculeEventLoop built beside it.
set -euo pipefail

usage="usage: Fuzz/run.sh TARGET SECONDS [libFuzzer flags...] | Fuzz/run.sh TARGET reseed"
target=${1:?$usage}
seconds=${2:?$usage}
shift 2

root=$(cd "$(dirname "$0")/.." && pwd)
fuzz="$root/Fuzz"
build="$fuzz/.build"
case "$target" in
  proxy-parser) harness=ProxyParserFuzz.swift ;;
  access-list)  harness=AccessListFuzz.swift ;;
  address)      harness=AddressFuzz.swift ;;
  config-loader) harness=ConfigLoaderFuzz.swift ;;
  admin-request) harness=AdminRequestFuzz.swift ;;
  client-hello) harness=ClientHelloFuzz.swift ;;
  *) echo "unknown target $target (proxy-parser, access-list, address, config-loader, admin-request, client-hello)" >&2; exit 64 ;;
esac

mkdir -p "$build/modules" "$build/CLinux" "$fuzz/corpus/$target" "$fuzz/seeds/$target" "$fuzz/crashes/$target"
cat > "$build/CLinux/module.modulemap" <<MAP
module CLinux {
    header "$root/Sources/CLinux/include/CLinux.h"
    export *
}
MAP

# Dependencies: optimised, not instrumented (the fuzzer should explore our code, not theirs),
# and rebuilt only when their sources change.
stale() { [ ! -f "$1" ] || [ -n "$(find "${@:2}" -newer "$1" -print -quit)" ]; }
if stale "$build/CLinux/shim.o" "$root/Sources/CLinux"; then
  clang -c -O2 -I "$root/Sources/CLinux/include" "$root/Sources/CLinux/shim.c" -o "$build/CLinux/shim.o"
fi
if stale "$build/libBasculeConfig.a" "$root/Sources/BasculeConfig"; then
  swiftc -O -parse-as-library -module-name BasculeConfig -swift-version 6 \
    -emit-module -emit-module-path "$build/modules/BasculeConfig.swiftmodule" \
    -emit-library -static -o "$build/libBasculeConfig.a" "$root"/Sources/BasculeConfig/*.swift
fi
if stale "$build/libBasculePosix.a" "$root/Sources/BasculePosix"; then
  swiftc -O -parse-as-library -module-name BasculePosix -swift-version 6 -I "$build/CLinux" \
    -emit-module -emit-module-path "$build/modules/BasculePosix.swiftmodule" \
    -emit-library -static -o "$build/libBasculePosix.a" "$root"/Sources/BasculePosix/*.swift
fi
if stale "$build/libBasculeEventLoop.a" "$root/Sources/BasculeEventLoop" "$root/Sources/BasculePosix"; then
  swiftc -O -parse-as-library -module-name BasculeEventLoop -swift-version 6 -I "$build/CLinux" -I "$build/modules" \
    -emit-module -emit-module-path "$build/modules/BasculeEventLoop.swiftmodule" \
    -emit-library -static -o "$build/libBasculeEventLoop.a" "$root"/Sources/BasculeEventLoop/*.swift
fi

proxy="$root/Sources/BasculeProxy"
admin="$root/Sources/BasculeAdmin"
# lld: gold warns about every ASan assembly symbol it cannot export.
instrumented=(swiftc -sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6 -use-ld=lld)
case "$target" in
  config-loader)
    # The whole of BasculeConfig, instrumented, as the module itself.
    "${instrumented[@]}" -module-name BasculeConfig \
      "$fuzz/Targets/$harness" "$root"/Sources/BasculeConfig/*.swift -o "$build/$target" ;;
  admin-request)
    # The parser and the types it answers with, as a module named BasculeAdmin (all internal).
    "${instrumented[@]}" -module-name BasculeAdmin -I "$build/modules" -L "$build" -lBasculeConfig \
      "$fuzz/Targets/$harness" "$admin/HTTPRequestParser.swift" "$admin/HTTPRequest.swift" \
      "$admin/HTTPResponse.swift" -o "$build/$target" ;;
  client-hello)
    # Pure value code: the reader and its result type, as a module named BasculeProxy.
    "${instrumented[@]}" -module-name BasculeProxy \
      "$fuzz/Targets/$harness" "$proxy/ClientHello.swift" "$proxy/ClientHelloReader.swift" -o "$build/$target" ;;
  *)
    "${instrumented[@]}" -module-name BasculeProxy \
      -I "$build/modules" -I "$build/CLinux" -L "$build" -lBasculeConfig -lBasculePosix "$build/CLinux/shim.o" \
      "$fuzz/Targets/$harness" "$proxy/IPAddressText.swift" \
      "$proxy/ProxyHeader.swift" "$proxy/ProxyProtocolEncoder.swift" "$proxy/ProxyProtocolParser.swift" \
      "$proxy/AccessList.swift" \
      -o "$build/$target" ;;
esac

cd "$fuzz"
if [ "$seconds" = reseed ]; then
  # Edges only (-use_counters=0): one input per newly covered edge rather than per hit-count
  # bucket, which keeps the committed set small (~5x fewer files) at the same edge coverage.
  fresh=$(mktemp -d "$fuzz/.build/seeds-$target.XXXXXX")
  cp "seeds/$target"/seed-* "$fresh"/ 2>/dev/null || true
  "$build/$target" -merge=1 -use_counters=0 -max_len=4096 "$fresh" "seeds/$target" "corpus/$target"
  rm -r "seeds/$target" && mv "$fresh" "seeds/$target"
  echo "seeds/$target: $(find "seeds/$target" -type f | wc -l) inputs, $(du -s --apparent-size -B1 "seeds/$target" | cut -f1) bytes"
  exit 0
fi
# New inputs are written to the first directory only: the seeds stay as committed.
exec "$build/$target" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
  -artifact_prefix="$fuzz/crashes/$target/" "$@" "corpus/$target" "seeds/$target"
