# Sourced by scripts/vegafs, scripts/test and scripts/bench: makes a ready environment on a fresh
# Debian machine and reuses it afterwards.
#   1. Debian packages (only the missing ones; PyPI is not needed),
#   2. a virtual environment over Debian's Python (.venv, --system-site-packages),
#   3. the wheel (NativeAOT library + package), rebuilt only when the sources changed.
# Usage: vega_setup [runtime|test|bench]
set -euo pipefail

VEGA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VEGA_VENV="${VEGAFS_VENV:-$VEGA_ROOT/.venv}"
VEGA_PYTHON="$VEGA_VENV/bin/python"

_vega_log() { printf 'vegafs setup: %s\n' "$*" >&2; }

_vega_packages() {
    local runtime="python3 python3-venv python3-pip python3-cffi python3-fsspec python3-rich python3-setuptools python3-wheel clang zlib1g-dev libssl3"
    case "$1" in
        runtime) echo "$runtime" ;;
        test) echo "$runtime python3-pytest python3-hypothesis python3-numpy python3-pandas python3-mypy python3-pathspec python3-xxhash git binutils util-linux coreutils" ;;
        bench) echo "$runtime python3-numpy python3-pandas python3-matplotlib python3-xxhash xxhash fd-find ripgrep hyperfine python3-faiss python3-hnswlib libopenblas0-pthread" ;;
    esac
}

_vega_system() {
    local missing=() pkg
    for pkg in $(_vega_packages "$1"); do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        if [ "$(id -u)" != 0 ]; then
            _vega_log "missing Debian packages: ${missing[*]}"
            _vega_log "install them with: sudo apt-get install ${missing[*]}"
            exit 1
        fi
        _vega_log "installing Debian packages: ${missing[*]}"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi
    if ! command -v dotnet >/dev/null 2>&1; then
        _vega_log "the .NET SDK (dotnet, 9 or newer) is needed to build the native library"
        exit 1
    fi
}

_vega_sources_hash() {
    cd "$VEGA_ROOT"
    {
        if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
            git ls-files -co --exclude-standard -- native python setup.py pyproject.toml
        else
            find native python setup.py pyproject.toml -type f -not -path '*/bin/*' -not -path '*/obj/*'
        fi
    } | LC_ALL=C sort | while read -r f; do [ -f "$f" ] && sha1sum "$f"; done | sha1sum | cut -d' ' -f1
}

_vega_venv() {
    if ! "$VEGA_PYTHON" -c "import cffi, fsspec" >/dev/null 2>&1; then
        _vega_log "creating $VEGA_VENV over /usr/bin/python3"
        rm -rf "$VEGA_VENV"
        /usr/bin/python3 -m venv --system-site-packages "$VEGA_VENV"
    fi
}

_vega_install() {
    local stamp="$VEGA_VENV/.vegafs-build" hash
    hash="$(_vega_sources_hash)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] && "$VEGA_PYTHON" -c "import vegafs" >/dev/null 2>&1; then
        return
    fi
    _vega_log "building the native library and the wheel"
    rm -rf "$VEGA_ROOT/build/wheelhouse"
    (cd "$VEGA_ROOT" && DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 \
        "$VEGA_PYTHON" -m pip wheel . --no-build-isolation --no-deps -q -w build/wheelhouse >&2)
    "$VEGA_PYTHON" -m pip install -q --no-deps --no-index --force-reinstall "$VEGA_ROOT"/build/wheelhouse/vegafs-*.whl >&2
    echo "$hash" > "$stamp"
}

vega_setup() {
    local profile="${1:-runtime}"
    _vega_system "$profile"
    mkdir -p "$(dirname "$VEGA_VENV")"
    exec 9>"$VEGA_ROOT/.vegafs-setup.lock"
    flock 9
    _vega_venv
    _vega_install
    flock -u 9
}
