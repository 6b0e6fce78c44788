#!/usr/bin/env bash
# Run the reference tests at the AVX-512 kernel level on a CPU without AVX-512, under Bochs.
#
#   scripts/emulated-avx512.sh                # the runtime's unit tests and the reference tests
#   scripts/emulated-avx512.sh --with-minilm  # and MiniLM's (after scripts/fetch-models.sh)
#
# Bochs (Debian's package) emulates an Intel Skylake-X, AVX-512 F, CD, BW, DQ and VL included,
# instruction by instruction. A Debian cloud kernel boots it from a small ISO whose initramfs
# holds busybox, the release test binaries, the fixtures they read (at the paths they were
# built with) and, if asked for, MiniLM; each binary runs with TRANSFORMER_KERNEL=avx512, so an
# AVX-512 kernel that gives a wrong result fails its test here as it would on a Zen 4 or a
# Xeon. The serial console's output is checked here: every binary must pass, under a CPU
# that reported avx512f. It takes about ten minutes from a clean build on a Zen 3: three to
# build, two for the guest to boot and three for the tests, Bochs running on one core; MiniLM's
# tests add ten. (SmolLM2's would add about an hour: every lane of every vector is emulated.)
#
# Correctness only: an emulator's speed says nothing of the kernels' speed.
#
# Needs root on Debian 12 (apt-get installs bochs, busybox-static, grub and xorriso, and
# downloads the kernel package, all from Debian's archive). Work files go to
# ${EMULATED_AVX512_DIR:-/tmp/emulated-avx512}.
set -euo pipefail
cd "$(dirname "$0")/.."
WORKSPACE="$(pwd)"
WORK="${EMULATED_AVX512_DIR:-/tmp/emulated-avx512}"
# Far more than a run takes; a guest that hangs must not hold CI for its whole time.
LIMIT_SECONDS=2400

die() {
    echo "emulated-avx512.sh: ERROR: $*" >&2
    exit 1
}

with_minilm=0
case "${1:-}" in
    "") ;;
    --with-minilm) with_minilm=1 ;;
    *) die "unknown argument '$1' (expected nothing or --with-minilm)" ;;
esac

# Tools.
packages="bochs bochsbios vgabios busybox-static cpio grub-pc-bin grub-common xorriso mtools"
# shellcheck disable=SC2086
if ! dpkg -s $packages > /dev/null 2>&1; then
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages > /dev/null
fi

rm -rf "$WORK"
mkdir -p "$WORK"/kernel "$WORK"/iso/boot/grub "$WORK"/root

# The kernel: the image package Debian's cloud kernel metapackage points at (with fresh
# package lists if the ones here name a version the archive no longer has).
download_kernel() {
    local image
    image="$(apt-cache depends linux-image-cloud-amd64 |
        awk '/Depends: linux-image-[0-9]/ { print $2; exit }')"
    [ -n "$image" ] && (cd "$WORK/kernel" && apt-get download -q "$image" > /dev/null 2>&1)
}
download_kernel || { apt-get update -qq && download_kernel; } ||
    die "could not download Debian's linux-image-*-cloud-amd64"
dpkg-deb -x "$WORK"/kernel/*.deb "$WORK/kernel/files"
cp "$WORK"/kernel/files/boot/vmlinuz-* "$WORK/iso/boot/vmlinuz"

# The test binaries, in release: under the emulator, vector code runs hundreds of times slower
# than on the CPU.
tests=(--test forward --test pytorch_parity --test seed_attention --test kernel_level
    --test decoding --test llama --test llama_gguf --test gpt2 --test stacks --test sampling
    --test alloc)
model_tests=()
if [ "$with_minilm" = 1 ]; then
    minilm="$(scripts/fetch-models.sh --print-dir | grep '/all-MiniLM-L6-v2$')"
    [ -f "$minilm/model.safetensors" ] ||
        die "all-MiniLM-L6-v2 is not in $minilm: run scripts/fetch-models.sh first"
    model_tests=(--test minilm)
fi
executables() {
    cargo test --release --no-run --message-format=json "$@" |
        grep -o '"executable":"[^"]*"' | sed 's/"executable":"//; s/"$//'
}
mkdir -p "$WORK/root/t"
{
    executables -p transformer-runtime --lib
    executables -p transformer "${tests[@]}" "${model_tests[@]}"
} > "$WORK/binaries"
expected=$((1 + ${#tests[@]} / 2 + ${#model_tests[@]} / 2))
[ "$(wc -l < "$WORK/binaries")" = "$expected" ] ||
    die "cargo gave $(wc -l < "$WORK/binaries") test binaries, not the $expected asked for"
while read -r binary; do
    name="$(basename "$binary")"
    cp "$binary" "$WORK/root/t/${name%-*}"
done < "$WORK/binaries"

# What the binaries read, where they were built to find it.
mirror() {
    mkdir -p "$WORK/root$(dirname "$1")"
    cp -r "$1" "$WORK/root$1"
}
mirror "$WORKSPACE/tests/fixtures"
mirror "$WORKSPACE/transformer-runtime/src" # cpu.rs's test reads the sources
if [ "$with_minilm" = 1 ]; then
    mkdir -p "$WORK/root/models"
    cp -r "$minilm" "$WORK/root/models/"
fi

# The dynamic libraries the binaries link, and busybox for a shell.
mkdir -p "$WORK/root/bin" "$WORK/root/proc" "$WORK/root/sys" "$WORK/root/dev" "$WORK/root/tmp"
cp /bin/busybox "$WORK/root/bin/busybox"
for binary in "$WORK"/root/t/*; do
    for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
        [ -e "$WORK/root$lib" ] && continue
        mkdir -p "$WORK/root$(dirname "$lib")"
        cp "$lib" "$WORK/root$lib"
    done
done

# The guest's init: every binary at the AVX-512 level, one test at a time (the guest has one
# CPU). The thread pool's own tests are left out: they wait on each other's threads, which
# one emulated CPU makes slow, and they run no kernel.
cat > "$WORK/root/init" << 'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
export TRANSFORMER_KERNEL=avx512 TRANSFORMER_MODELS=/models
echo "== cpu flags: $(grep -o 'avx512[a-z]*\|avx2\|fma' /proc/cpuinfo | sort -u | tr '\n' ' ')"
cd /t
for test in *; do
    echo "== running $test"
    ./"$test" --test-threads 1 --include-ignored --skip threads::tests 2>&1
    echo "== $test exited $?"
done
echo "== all binaries ran"
# Let the serial line drain before the power goes.
sleep 3
poweroff -f
EOF
chmod +x "$WORK/root/init"
(cd "$WORK/root" && find . | cpio -o -H newc 2> /dev/null | gzip -1) > "$WORK/iso/boot/initrd.gz"

# Linux 6.1 checks the XSAVE layout CPUID reports and turns XSAVE (and with it AVX) off if
# the sizes disagree. Bochs 2.7 reports the standard size as the compacted (XSAVES) one and a
# PKRU component of size 0, so the guest is told to use neither: XSAVE's standard format
# with x87, SSE, AVX and the three AVX-512 components is left, which is what user code needs.
cat > "$WORK/iso/boot/grub/grub.cfg" << 'EOF'
set timeout=0
serial --unit=0 --speed=115200
terminal_output serial
menuentry avx512 {
    linux /boot/vmlinuz console=ttyS0 quiet nokaslr clearcpuid=pku,xsaves,xsavec rdinit=/init
    initrd /boot/initrd.gz
}
EOF
grub-mkrescue -o "$WORK/boot.iso" "$WORK/iso" > "$WORK/grub-mkrescue.log" 2>&1 ||
    die "grub-mkrescue failed: $(tail -3 "$WORK/grub-mkrescue.log")"

cat > "$WORK/bochsrc" << EOF
memory: guest=2048, host=2048
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
cpu: model=corei7_skylake_x, count=1, ips=50000000
ata0-master: type=cdrom, path=$WORK/boot.iso, status=inserted
boot: cdrom
com1: enabled=1, mode=file, dev=$WORK/serial.log
display_library: rfb, options="timeout=0"
log: $WORK/bochs.log
panic: action=fatal
error: action=report
info: action=ignore
clock: sync=none, time0=local
EOF
# Debian's Bochs has its debugger built in: it starts stopped, and `c` lets it run.
echo c > "$WORK/debugger-commands"
echo "emulated-avx512.sh: booting the guest (a few minutes), then $(wc -l < "$WORK/binaries") test binaries"
start=$SECONDS
status=0
timeout "$LIMIT_SECONDS" bochs-bin -q -f "$WORK/bochsrc" -rc "$WORK/debugger-commands" \
    < /dev/null > "$WORK/bochs.out" 2>&1 || status=$?
echo "emulated-avx512.sh: Bochs ran $((SECONDS - start)) s"
[ "$status" != 124 ] || echo "emulated-avx512.sh: Bochs did not finish in $LIMIT_SECONDS s" >&2

# The verdict, from the serial console.
serial="$WORK/serial.log"
[ -f "$serial" ] || die "the guest wrote nothing (Bochs: $(tail -3 "$WORK/bochs.out"))"
grep -E '^== |^test result|FAILED|panicked' "$serial" || true
grep -q '^== cpu flags: .*avx512f' "$serial" || die "the guest's CPU did not report avx512f"
failed=0
for test in "$WORK"/root/t/*; do
    grep -q "^== ${test##*/} exited 0" "$serial" || {
        echo "emulated-avx512.sh: ${test##*/} did not pass at the avx512 level" >&2
        failed=1
    }
done
grep -q '^== all binaries ran' "$serial" || failed=1
[ "$failed" = 0 ] || die "see $serial"
echo "emulated-avx512.sh: every test binary passed at the avx512 level"
