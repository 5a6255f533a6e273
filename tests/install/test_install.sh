#!/usr/bin/env bash
# test_install.sh -- Sentinel built as users build it and linked as an
# integration links it:
#  1. the plain CMake Release build, warnings as errors, with gcc and clang;
#  2. `cmake --install` into a fresh prefix: libsentinel (static, shared),
#     the public headers, sentinel.pc and the CMake package config;
#  3. the public headers compile on their own and include no third-party
#     header but libpq's;
#  4. a small program (publish_events.c) built against the installed package
#     only, after the build trees are removed and the prefix moved, with
#     pkg-config (and an rpath, as the README says) and with find_package,
#     each linked shared and static, publishes events to the real broker,
#     and they are all there;
#  5. the installed binary migrates a fresh database with the migrations
#     installed beside it (share/sentinel).
#   test_install.sh SOURCE_DIR TOPICS_TOOL
# (TOPICS_TOOL: bench_topics, which deletes the test's topic at the end.)
set -euo pipefail
ROOT="$1"
topics_tool="$2"
: "${SENTINEL_KAFKA_BROKERS:?run under scripts/services env}"
fail() { echo "FAIL: $*" >&2; exit 1; }
work="$(mktemp -d)"
topic=""
cleanup() {
    rm -rf "$work"
    if [[ -n "$topic" ]]; then "$topics_tool" "$SENTINEL_KAFKA_BROKERS" "$topic" >/dev/null || true; fi
}
trap cleanup EXIT

for cc in gcc clang; do
    cmake -S "$ROOT" -B "$work/build-$cc" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER="$cc" \
        -DSENTINEL_WERROR=ON -DSENTINEL_TESTS=OFF \
        >"$work/configure-$cc.log" 2>&1 || fail "configure with $cc: $(cat "$work/configure-$cc.log")"
    cmake --build "$work/build-$cc" -j2 >"$work/build-$cc.log" 2>&1 ||
        fail "Release build with $cc: $(grep -E 'error|warning' "$work/build-$cc.log" | head -20)"
done
# Configured for the default prefix, installed elsewhere as packagers and
# users do: the pkg-config file must find its prefix where it lies.
cmake --install "$work/build-gcc" --prefix "$work/prefix" >"$work/install.log" 2>&1 ||
    fail "install: $(cat "$work/install.log")"
# The build trees go away, and the prefix moves: what is installed must
# stand on its own, wherever it lies.
mv "$work/prefix" "$work/moved-prefix"
rm -rf "$work/build-gcc" "$work/build-clang"

prefix="$work/moved-prefix"
pc="$(find "$prefix" -name sentinel.pc)"
[[ -n "$pc" ]] || fail "no sentinel.pc installed"
export PKG_CONFIG_PATH="$(dirname "$pc")"
libdir="$(pkg-config --variable=libdir sentinel)"
[[ "$(realpath "$libdir")" == "$(realpath "$prefix")"/* ]] ||
    fail "sentinel.pc points at $libdir, not into $prefix"
for f in "$libdir/libsentinel.a" "$libdir/libsentinel.so" "$prefix/bin/sentinel" \
    "$libdir/cmake/sentinel/sentinelConfig.cmake" "$prefix/share/sentinel/migrations/0001_identity.sql" \
    "$prefix/share/sentinel/schemas/RunStarted.v1.avsc" "$prefix/share/sentinel/schemas/openapi.json"; do
    [[ -e "$f" ]] || fail "not installed: $f"
done

# Public headers: each compiles alone; the only non-libc include is libpq's.
headers=("$prefix/include/sentinel/"*.h)
((${#headers[@]} == 5)) || fail "installed headers: ${headers[*]}"
for h in "${headers[@]}"; do
    echo "#include <sentinel/$(basename "$h")>" |
        cc -std=c11 -Wall -Werror -fsyntax-only -x c - $(pkg-config --cflags sentinel) ||
        fail "$(basename "$h") does not compile on its own"
done
others="$(grep -ho '#include <[^>]*>' "${headers[@]}" | sort -u |
    grep -vE '<(stddef|stdint|stdio|libpq-fe)\.h>' || true)"
[[ -z "$others" ]] || fail "public headers include: $others"
# Only the public API is exported by the shared library.
exported="$(nm -D --defined-only "$libdir/libsentinel.so" | awk '$3 !~ /^_/ {print $3}')"
grep -qx sentinel_publisher_send_json <<<"$exported" || fail "sentinel_publisher_send_json not exported"
if grep -qx sentinel_db_open <<<"$exported"; then fail "a private function is exported"; fi

# The program, four ways.
src="$ROOT/tests/install/publish_events.c"
cflags=(-std=c11 -Wall -Wextra -Werror)
# As the README's recipe says: pkg-config, and the library's directory as
# the run-time path, so it runs with no LD_LIBRARY_PATH.
cc "${cflags[@]}" "$src" -o "$work/pc_shared" $(pkg-config --cflags --libs sentinel) \
    -Wl,-rpath,"$(pkg-config --variable=libdir sentinel)" || fail "pkg-config shared link"
# Static libsentinel, its dependencies shared (the private ones named, as
# `pkg-config --static` would also ask for libpq's own static archives).
static_libs="$(pkg-config --libs libpq rdkafka avro-c jansson libmicrohttpd libsodium) -lpthread -lm"
cc "${cflags[@]}" "$src" -o "$work/pc_static" $(pkg-config --cflags sentinel) \
    "$libdir/libsentinel.a" $static_libs || fail "pkg-config static link"
cmake -S "$ROOT/tests/install" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_FLAGS="-Wall -Werror" >"$work/consumer.log" 2>&1 ||
    fail "find_package: $(cat "$work/consumer.log")"
cmake --build "$work/consumer" >>"$work/consumer.log" 2>&1 || fail "find_package build: $(cat "$work/consumer.log")"

# ldd's output is taken whole first: `ldd | grep -q` under pipefail fails
# when grep stops reading before ldd has written everything.
deps="$(ldd "$work/pc_shared")"
grep -q "libsentinel.so.0 => $libdir" <<<"$deps" || fail "pkg-config shared: $deps"
deps="$(ldd "$work/pc_static")"
if grep -q libsentinel <<<"$deps"; then fail "pkg-config static links libsentinel.so"; fi
deps="$(ldd "$work/consumer/publish_events_static")"
if grep -q libsentinel <<<"$deps"; then fail "find_package static links libsentinel.so"; fi

topic="sentinel.install.$$.$RANDOM"
events="$ROOT/tests/data/projection/phase1.ndjson"
lines="$(wc -l <"$events")"
total=0
for prog in "$work/pc_shared" "$work/pc_static" "$work/consumer/publish_events_shared" \
    "$work/consumer/publish_events_static"; do
    out="$("$prog" "$topic" <"$events")" || fail "$(basename "$prog"): $out"
    [[ "$out" == "published $lines rejected 0" ]] || fail "$(basename "$prog"): $out"
    total=$((total + lines))
done
# The installed binary finds its migrations beside it and migrates a
# fresh database with them.
: "${SENTINEL_OWNER_URL:?run under scripts/services env}"
db="sentinel_install_$$_$RANDOM"
psql -X -q "$SENTINEL_OWNER_URL" -c "CREATE DATABASE $db" || fail "cannot create $db"
db_url="${SENTINEL_OWNER_URL%/*}/$db"
status="$(env -u SENTINEL_MIGRATIONS_DIR "$prefix/bin/sentinel" migrate --status --db "$db_url" 2>&1)" ||
    fail "installed migrate --status: $status"
[[ "$(head -1 <<<"$status")" == "migrations: $prefix/bin/../share/sentinel/migrations" ]] ||
    fail "the installed binary reads migrations from: $(head -1 <<<"$status")"
applied="$(env -u SENTINEL_MIGRATIONS_DIR "$prefix/bin/sentinel" migrate --db "$db_url" 2>&1)" ||
    fail "installed migrate: $applied"
want="$(ls "$prefix/share/sentinel/migrations" | wc -l) migration(s) applied"
[[ "$(tail -1 <<<"$applied")" == "$want" ]] || fail "installed migrate: $applied (want $want)"
psql -X -q "$SENTINEL_OWNER_URL" -c "DROP DATABASE $db" >/dev/null

read_back="$(timeout 60 kcat -C -b "$SENTINEL_KAFKA_BROKERS" -t "$topic" -e -q -f '%o\n' | wc -l)"
[[ "$read_back" == "$total" ]] || fail "$read_back messages on $topic, expected $total"
echo "installed, linked four ways, $total events published and read back"
