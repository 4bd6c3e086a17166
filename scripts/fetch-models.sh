#!/usr/bin/env bash
# fetch-models.sh: puts the default model files under models/ (git-ignored), verified by sha256.
#
#   1. already there with the right checksum: nothing to do;
#   2. ../shared/models (or $EBRCS_SHARED/models) has them: copy;
#   3. otherwise download the ONNX Model Zoo original and derive the embedding variant with
#      models/derive_embedding.py (byte-identical to the shared copy; see models/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

MODELS_DIR=models
SHARED_DIR="${EBRCS_SHARED:-../shared}/models"
ZOO_URL="${EBRCS_MODEL_ZOO_URL:-https://github.com/onnx/models/raw/main/validated/vision/classification/mobilenet/model/mobilenetv2-12-int8.onnx}"

ORIGINAL=mobilenetv2-12-int8.onnx
ORIGINAL_SHA=83530ad811bc31d2b60a5599a21265a5057608c9b044b4ee758cc22f2309f54f
EMBEDDING=mobilenetv2-12-int8-emb.onnx
EMBEDDING_SHA=77c955443515346e51f021e0380533903028b1c8c6beb5782dd4169eff8db28a

log() { printf '[fetch-models] %s\n' "$*" >&2; }
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

# place FILE SHA: copy FILE from shared/ when it is there and intact.
place() {
	local file=$1 sha=$2
	if sha_ok "$MODELS_DIR/$file" "$sha"; then return 0; fi
	if sha_ok "$SHARED_DIR/$file" "$sha"; then
		install -m 0644 "$SHARED_DIR/$file" "$MODELS_DIR/$file.tmp"
		mv "$MODELS_DIR/$file.tmp" "$MODELS_DIR/$file"
		log "$file: copied from $SHARED_DIR"
		return 0
	fi
	return 1
}

mkdir -p "$MODELS_DIR"
if ! place "$ORIGINAL" "$ORIGINAL_SHA"; then
	log "$ORIGINAL: downloading from the ONNX Model Zoo"
	curl -fsSL --retry 3 -o "$MODELS_DIR/$ORIGINAL.tmp" "$ZOO_URL"
	if ! sha_ok "$MODELS_DIR/$ORIGINAL.tmp" "$ORIGINAL_SHA"; then
		rm -f "$MODELS_DIR/$ORIGINAL.tmp"
		log "$ORIGINAL: downloaded file has the wrong sha256"; exit 1
	fi
	mv "$MODELS_DIR/$ORIGINAL.tmp" "$MODELS_DIR/$ORIGINAL"
fi
if ! place "$EMBEDDING" "$EMBEDDING_SHA"; then
	log "$EMBEDDING: deriving from $ORIGINAL"
	/usr/bin/python3 models/derive_embedding.py "$MODELS_DIR/$ORIGINAL" "$MODELS_DIR/$EMBEDDING.tmp"
	if ! sha_ok "$MODELS_DIR/$EMBEDDING.tmp" "$EMBEDDING_SHA"; then
		rm -f "$MODELS_DIR/$EMBEDDING.tmp"
		log "$EMBEDDING: derived file has the wrong sha256"; exit 1
	fi
	mv "$MODELS_DIR/$EMBEDDING.tmp" "$MODELS_DIR/$EMBEDDING"
fi
log "models ready: $MODELS_DIR/$ORIGINAL $MODELS_DIR/$EMBEDDING"
