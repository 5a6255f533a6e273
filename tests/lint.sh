#!/usr/bin/env bash
# lint.sh -- the tree reads as the pipeline and is formatted:
#  1. every C file is as .clang-format wants it (clang-format --dry-run);
#  2. each folder includes only what its README says it may: a stage sees
#     the public headers and the stages below it, never one above.
#   lint.sh SOURCE_DIR
set -euo pipefail
ROOT="$1"
cd "$ROOT"
fail=0
complain() { echo "FAIL: $*" >&2; fail=1; }

mapfile -t files < <(find src events projectors tests bench -name '*.[ch]' | sort)
((${#files[@]} > 50)) || complain "only ${#files[@]} C files found"
if ! clang-format --dry-run -Werror "${files[@]}" 2>"${TMPDIR:-/tmp}/lint.$$"; then
    complain "not formatted (run clang-format -i on them):"
    grep -o '^[^:]*:' "${TMPDIR:-/tmp}/lint.$$" | sort -u | head -20 >&2
fi
rm -f "${TMPDIR:-/tmp}/lint.$$"

# folder: the private folders its files may include ("x/..."), besides its
# own, the public <sentinel/...> headers and system headers.
declare -A may=(
    [src/include/sentinel]=""
    [src/base]=""
    [events]="base"
    [src/pg]="base"
    [src/publish]="base events"
    [src/ingest]="base events pg"
    [src/runtime]="base events pg"
    [projectors]="base pg"
    [src/replay]="base pg runtime"
    [src/cli]="base events pg publish ingest runtime replay"
)
# The private headers a file includes: "x/y.h" and <x/y.h> where x is a
# folder of the engine, however the directive is spaced ("# include").
stages="base|events|pg|publish|runtime|replay|cli|projectors|ingest"
private_includes() {
    sed -nE -e 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]*)".*/\1/p' \
        -e "s/^[[:space:]]*#[[:space:]]*include[[:space:]]*<(($stages)\/[^>]*)>.*/\1/p" "$1"
}
# The rule itself is checked: both spellings are seen.
printf '# include "pg/db.h"\n#include <runtime/run.h>\n' >"${TMPDIR:-/tmp}/lint_probe.$$.c"
[[ "$(private_includes "${TMPDIR:-/tmp}/lint_probe.$$.c" | tr '\n' ' ')" == "pg/db.h runtime/run.h " ]] ||
    complain "the include rule misses a spelling"
rm -f "${TMPDIR:-/tmp}/lint_probe.$$.c"

for dir in "${!may[@]}"; do
    own="${dir##*/}"
    [[ "$dir" == src/include/sentinel ]] && own=""
    for f in "$dir"/*.[ch]; do
        while IFS= read -r inc; do
            folder="${inc%%/*}"
            if [[ "$dir" == src/include/sentinel ]]; then
                [[ "$inc" != */* ]] || complain "$f: a public header includes \"$inc\""
                continue
            fi
            [[ "$inc" == */* ]] || { complain "$f: \"$inc\" names no folder"; continue; }
            [[ "$folder" == "$own" ]] && continue
            [[ " ${may[$dir]} " == *" $folder "* ]] || complain "$f: includes \"$inc\" ($dir may include: ${may[$dir]:-none})"
        done < <(private_includes "$f")
    done
done
# Every folder of the engine is in the table above.
for dir in src/*/ events/ projectors/; do
    dir="${dir%/}"
    [[ "$dir" == src/include ]] && continue
    [[ -v "may[$dir]" ]] || complain "$dir: no include rule"
done
exit "$fail"
