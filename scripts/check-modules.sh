#!/usr/bin/env bash
# Fails when a .rs file under src/, core/ or tools/ is not part of its crate's module tree:
# such a file is never compiled, and its tests never run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0
while IFS= read -r f; do
    base=$(basename "$f" .rs)
    case $base in lib | main | mod | build) continue ;; esac
    dir=$(dirname "$f")
    # Cargo's own target folders (integration tests, benches...) are not module trees; a
    # `tests/` folder inside `src/` is (unit-test modules split by concern).
    case $dir in */src/*) ;; */bin | */tests | */tests/* | */benches | */examples) continue ;; esac
    case $dir in */src/bin | */src/bin/*) continue ;; esac
    found=0
    for parent in "$dir/mod.rs" "$dir/lib.rs" "$dir/main.rs" "$dir.rs"; do
        if [[ -f $parent ]] && grep -qE "^\s*(pub(\([a-z]+\))? )?mod $base\s*;" "$parent"; then
            found=1
        fi
    done
    if [[ $found == 0 ]]; then
        echo "not declared by any module (never compiled): $f" >&2
        status=1
    fi
done < <(find src core/src core/crypto/src tools -name '*.rs' -not -path '*/target/*' | sort)
exit $status
