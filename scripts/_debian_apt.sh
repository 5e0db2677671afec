# Shared by scripts/test-pi-emulated (sourced, not run): Debian's archive through an apt of our
# own, so that a release's packages of any architecture can be downloaded without root and
# without touching the host's apt sources, its dpkg architectures or its installed packages.
#
# debian_apt_init CACHE RELEASE : an apt configuration under CACHE/apt/RELEASE for Debian RELEASE
#     (main, architectures amd64 arm64 armhf), its index fetched once a day at most
# debian_apt ARGS...           : apt-get with that configuration (e.g. download NAME:arm64)
# debian_qemu CACHE ARCH       : the path of qemu-user's static emulator for ARCH (arm64, armhf)
#     from Debian trixie's qemu-user (10.0), unpacked once under CACHE/qemu/VERSION
#
# Environment: SIM2PI_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

_debian_apt_opts=()

debian_apt_init() {
    local cache="$1" release="$2"
    local dir="$cache/apt/$release"
    local host_arch
    host_arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
    mkdir -p "$dir/lists/partial" "$dir/archives/partial" "$dir/preferences.d"
    : >>"$dir/status"
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [[ -r "$keyring" ]] || {
        echo "no $keyring: install Debian's debian-archive-keyring package" >&2
        return 1
    }
    echo "deb [arch=$host_arch,arm64,armhf signed-by=$keyring]" \
        "${SIM2PI_DEBIAN_MIRROR:-http://deb.debian.org/debian} $release main" >"$dir/sources.list"
    _debian_apt_opts=(
        -o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$dir/lists" -o "Dir::State::status=$dir/status"
        -o "Dir::Cache=$dir" -o "Dir::Cache::archives=$dir/archives"
        -o Dir::Etc::Preferences=/dev/null -o "Dir::Etc::PreferencesParts=$dir/preferences.d"
        -o "APT::Architecture=$host_arch" -o "APT::Architectures::=$host_arch"
        -o APT::Architectures::=arm64 -o APT::Architectures::=armhf
        # apt drops to user _apt to download, which cannot write into our cache: stay who we are.
        -o "APT::Sandbox::User=$(id -un)" -o Debug::NoLocking=1
    )
    local stamp="$dir/updated"
    if [[ ! -f "$stamp" ]] || [[ -n "$(find "$stamp" -mmin +1440 2>/dev/null)" ]] ||
        [[ "$(cat "$stamp")" != "$(cat "$dir/sources.list")" ]]; then
        echo "   apt-get update (Debian $release, own configuration under $dir)" >&2
        apt-get "${_debian_apt_opts[@]}" -qq update >&2 || {
            echo "apt-get update of Debian $release failed (above)" >&2
            return 1
        }
        cat "$dir/sources.list" >"$stamp"
    fi
}

debian_apt() {
    apt-get "${_debian_apt_opts[@]}" "$@"
}

debian_qemu() {
    local cache="$1" arch="$2" name
    case "$arch" in
    arm64) name=qemu-aarch64 ;;
    armhf) name=qemu-arm ;;
    *) echo "debian_qemu: no emulator for '$arch'" >&2; return 1 ;;
    esac
    debian_apt_init "$cache" trixie
    local version
    version="$(apt-cache "${_debian_apt_opts[@]}" show --no-all-versions qemu-user 2>/dev/null |
        sed -n 's/^Version: //p' | head -1 | tr ':~+' '___')"
    [[ -n "$version" ]] || { echo "Debian trixie's index has no qemu-user" >&2; return 1; }
    local dir="$cache/qemu/$version"
    if [[ ! -x "$dir/$name" ]]; then
        local tmp="$cache/qemu/download"
        rm -rf "$tmp" && mkdir -p "$tmp"
        (cd "$tmp" && debian_apt -qq download qemu-user) >&2 || {
            echo "apt-get download qemu-user (Debian trixie) failed (above)" >&2
            return 1
        }
        dpkg-deb --fsys-tarfile "$tmp"/qemu-user_*.deb |
            tar -x -C "$tmp" ./usr/bin/qemu-aarch64 ./usr/bin/qemu-arm
        mkdir -p "$dir"
        mv "$tmp/usr/bin/qemu-aarch64" "$tmp/usr/bin/qemu-arm" "$dir/"
        rm -rf "$tmp"
    fi
    echo "$dir/$name"
}
