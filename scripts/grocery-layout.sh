#!/usr/bin/env bash
# grocery-layout.sh: lays the GroceryStore dataset (../shared/datasets/grocery-store) out the way
# `ebrcs catalog import` and `ebrcs eval` read images, DIR/<product name>/*.jpg, with symlinks:
#
#   OUT/catalog/<class>/   the class's iconic image plus its first TRAIN train photos (default 5)
#   OUT/queries/<class>/   the class's val photos (60 of the 81 classes have some)
#
# This is the protocol of the baselines in ../shared/models/README.md (iconic + 5 train photos
# per class as the catalog, val photos as queries). The test split is deliberately absent.
#
# usage: scripts/grocery-layout.sh OUT [TRAIN]
set -euo pipefail
out=${1:?usage: grocery-layout.sh OUT [TRAIN]}
train=${2:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
ds="${EBRCS_SHARED:-$root/../shared}/datasets/grocery-store/dataset"
[ -d "$ds" ] || { echo "grocery-layout: no dataset at $ds" >&2; exit 1; }
ds=$(cd "$ds" && pwd)
rm -rf "$out/catalog" "$out/queries"
mkdir -p "$out/catalog" "$out/queries"

# classes.csv: Class Name, Class ID, Coarse Class Name, Coarse Class ID, Iconic Image Path, ...
declare -A name_of
while IFS=, read -r name id _ _ iconic _ || [ -n "${name:-}" ]; do
	[ "$id" = "Class ID (int)" ] && continue
	name_of[$id]=$name
	mkdir -p "$out/catalog/$name"
	ln -s "$ds$iconic" "$out/catalog/$name/iconic.jpg"
done <"$ds/classes.csv"

declare -A taken
while IFS=, read -r path id _ || [ -n "${path:-}" ]; do
	id=${id// /}
	name=${name_of[$id]}
	n=${taken[$id]:-0}
	[ "$n" -ge "$train" ] && continue
	taken[$id]=$((n + 1))
	ln -s "$ds/$path" "$out/catalog/$name/$(basename "$path")"
done <"$ds/train.txt"

while IFS=, read -r path id _ || [ -n "${path:-}" ]; do
	id=${id// /}
	name=${name_of[$id]}
	mkdir -p "$out/queries/$name"
	ln -s "$ds/$path" "$out/queries/$name/$(basename "$path")"
done <"$ds/val.txt"

echo "grocery-layout: $(ls "$out/catalog" | wc -l) catalog products ($(find -L "$out/catalog" -type f | wc -l) images), $(find -L "$out/queries" -type f | wc -l) queries in $(ls "$out/queries" | wc -l) classes" >&2
