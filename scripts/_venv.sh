# Shared by scripts/test, scripts/test-pi and scripts/demo (sourced, not run).
# make_venv DIR REQUIREMENTS... : create DIR with the newest Python >= 3.11 found, install the
# requirements (plus sim2pi itself, editable) and remember their hashes; a later call whose files
# were all installed unchanged is a no-op, a changed or new file reinstalls.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

find_python() {
    local candidate
    for candidate in "${SIM2PI_PYTHON:-}" python3.11 python3.12 python3.13 python3.14 python3; do
        [[ -z "$candidate" ]] && continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "sim2pi needs Python 3.11 or newer; none found (set SIM2PI_PYTHON=/path/to/python3.11)" >&2
    return 1
}

make_venv() {
    local dir="$1"
    shift
    # One "sha256  file" line per requirements file installed; a call whose files are all there
    # unchanged is a no-op, so scripts asking for fewer files (demo) share the venv of those
    # asking for more (test) without reinstalling.
    local stamp="$dir/.sim2pi-requirements.sha256"
    local files=("$@" requirements-pi.txt pyproject.toml)
    local want
    want="$(cd "$ROOT" && sha256sum "${files[@]}")"
    if [[ -x "$dir/bin/python" && -f "$stamp" ]] &&
        ! grep -vxF -f "$stamp" <<<"$want" >/dev/null; then
        return 0
    fi
    local python
    python="$(find_python)"
    if [[ ! -x "$dir/bin/python" ]]; then
        echo "sim2pi: creating $dir with $python" >&2
        "$python" -m venv "$dir"
    else
        echo "sim2pi: requirements changed, updating $dir" >&2
    fi
    local args=()
    local req
    for req in "$@"; do args+=(-r "$ROOT/$req"); done
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "${args[@]}"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e "$ROOT"
    # Keep the lines of files installed before and not named now; replace the others.
    local kept=""
    if [[ -f "$stamp" ]]; then
        kept="$(grep -vF -f <(printf '  %s\n' "${files[@]}") "$stamp" || true)"
    fi
    printf '%s\n' "$kept" "$want" | sed '/^$/d' >"$stamp"
}
