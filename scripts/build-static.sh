#!/usr/bin/env bash
# Builds the fully static release binary (musl) that the FROM scratch image ships.
#
#   scripts/build-static.sh [--arch x86_64|aarch64|all] [--no-install]
#
# The binary lands where cargo puts it: target/<triple>/release/agentcore-rt.
# Works on x86_64 and aarch64 Debian/Ubuntu hosts (Dockerfile.scratch's builder runs it too).
# Missing pieces are installed non-interactively (apt, sudo when not root) unless --no-install:
#   - the rustup target (rustup target add <triple>);
#   - for the host's own arch: musl-tools (<arch>-linux-musl-gcc), which ring's C/asm needs;
#   - for the other arch: gcc-<arch>-linux-gnu + libc6-dev-<debarch>-cross (see setup_cc).
set -euo pipefail

usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; }

arch=x86_64
install=1
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) arch="${2:-}"; shift 2 || { usage >&2; exit 2; } ;;
        --arch=*) arch="${1#--arch=}"; shift ;;
        --no-install) install=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "build-static: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
case "$arch" in
    x86_64|amd64) arches=(x86_64) ;;
    aarch64|arm64) arches=(aarch64) ;;
    all) arches=(x86_64 aarch64) ;;
    *) echo "build-static: --arch must be x86_64, aarch64 or all (got '$arch')" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

die() { echo "build-static: $*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo -n "$@"
    else die "need root to run: $* (no sudo available)"
    fi
}

apt_updated=0
apt_install() {
    [ "$install" -eq 1 ] || die "missing $* (rerun without --no-install, or: apt-get install $*)"
    command -v apt-get >/dev/null || die "missing $* and no apt-get here; install it by hand"
    if [ "$apt_updated" -eq 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        apt_updated=1
    fi
    echo "build-static: installing $*" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_target() {
    local triple=$1 sysroot
    # The target's std in rustc's sysroot is what the build needs (rustup's own bookkeeping
    # can disagree with it, e.g. in hand-assembled toolchain images).
    sysroot=$(rustc --print sysroot) || die "rustc not found"
    [ -d "$sysroot/lib/rustlib/$triple/lib" ] && return 0
    [ "$install" -eq 1 ] || die "rust target $triple missing (rustup target add $triple)"
    command -v rustup >/dev/null || die "rust target $triple missing and no rustup to add it"
    rustup target add "$triple" >&2
    [ -d "$sysroot/lib/rustlib/$triple/lib" ] || die "rustup target add $triple did not install it"
}

# Sets up the C compiler (and linker) for one target in the array `env_vars`.
# ring compiles C and assembly for the target, so a compiler for it must exist:
#   - target = host: musl-tools' <arch>-linux-musl-gcc (cc-rs finds it by name), else plain
#     gcc, which compiles ring's self-contained C just as well;
#   - target != host: the Debian cross gcc <arch>-linux-gnu-gcc as compiler and linker, plus
#     the cross libc headers (ring includes <stdint.h>); the musl CRT objects and libc come
#     self-contained with the rustup target, so a glibc cross gcc links a static musl binary.
setup_cc() {
    local arch=$1 host
    host=$(uname -m)
    local upper; upper=$(echo "$arch" | tr '[:lower:]' '[:upper:]')
    if [ "$arch" = "$host" ]; then
        command -v "$arch-linux-musl-gcc" >/dev/null && return 0
        if [ "$install" -eq 1 ] && command -v apt-get >/dev/null; then
            apt_install musl-tools
            command -v "$arch-linux-musl-gcc" >/dev/null && return 0
        fi
        command -v gcc >/dev/null || die "no C compiler for ring (apt-get install musl-tools)"
        env_vars+=("CC_${arch}_unknown_linux_musl=gcc")
        return 0
    fi
    local cross="$arch-linux-gnu-gcc" deb_arch
    case "$arch" in
        x86_64) deb_arch=amd64 ;;
        aarch64) deb_arch=arm64 ;;
    esac
    if ! command -v "$cross" >/dev/null || [ ! -e "/usr/$arch-linux-gnu/include/stdint.h" ]; then
        # The headers are only a "recommends" of the cross gcc: ask for both.
        apt_install "gcc-${arch//_/-}-linux-gnu" "libc6-dev-$deb_arch-cross"
    fi
    env_vars+=("CC_${arch}_unknown_linux_musl=$cross"
               "CARGO_TARGET_${upper}_UNKNOWN_LINUX_MUSL_LINKER=$cross")
}

build_one() {
    local arch=$1 triple="$1-unknown-linux-musl"
    ensure_target "$triple"
    local -a env_vars=()
    setup_cc "$arch"
    echo "build-static: cargo build --release --locked --target $triple --features no-dependency-logs" >&2
    env ${env_vars[@]+"${env_vars[@]}"} cargo build --release --locked --target "$triple" --bin agentcore-rt --features no-dependency-logs
    local bin="target/$triple/release/agentcore-rt"
    [ -x "$bin" ] || die "build finished but $bin is missing"
    local size
    size=$(stat -c %s "$bin")
    printf '%s: %s bytes (%s)\n' "$bin" "$size" "$(numfmt --to=iec-i --suffix=B "$size" 2>/dev/null || echo "$size")"
    if command -v file >/dev/null; then
        file -b "$bin"
        file -b "$bin" | grep -q 'statically linked\|static-pie linked' \
            || die "$bin is not statically linked"
    fi
}

for a in "${arches[@]}"; do build_one "$a"; done
