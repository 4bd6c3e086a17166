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
# With "cross" instead of TRAIN, the catalog and the queries come from different photo
# sessions (the issue-17 research's protocol B, harder): for the 60 classes with val photos,
#
#   OUT/catalog/<class>/   the iconic image plus the class's val photos (3 to 6)
#   OUT/queries/<class>/   all the class's train photos
#
# usage: scripts/grocery-layout.sh OUT [TRAIN|cross]
set -euo pipefail
out=${1:?usage: grocery-layout.sh OUT [TRAIN|cross]}
train=${2:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
ds="${EBRCS_SHARED:-$root/../shared}/datasets/grocery-store/dataset"
[ -d "$ds" ] || { echo "grocery-layout: no dataset at $ds" >&2; exit 1; }
ds=$(cd "$ds" && pwd)
rm -rf "$out/catalog" "$out/queries"
mkdir -p "$out/catalog" "$out/queries"

# classes.csv: Class Name, Class ID, Coarse Class Name, Coarse Class ID, Iconic Image Path, ...
declare -A name_of iconic_of has_val
while IFS=, read -r name id _ _ iconic _ || [ -n "${name:-}" ]; do
	[ "$id" = "Class ID (int)" ] && continue
	name_of[$id]=$name
	iconic_of[$id]=$iconic
done <"$ds/classes.csv"

# link LIST DIR: each photo of a list file (path, class id, ...) into DIR/<class>/, for the
# classes WANT says (all, or those with val photos).
link() {
	local list=$1 dir=$2 want=$3 max=${4:-1000000000}
	declare -A taken=()
	while IFS=, read -r path id _ || [ -n "${path:-}" ]; do
		id=${id// /}
		[ "$want" = val ] && [ -z "${has_val[$id]:-}" ] && continue
		n=${taken[$id]:-0}
		[ "$n" -ge "$max" ] && continue
		taken[$id]=$((n + 1))
		mkdir -p "$out/$dir/${name_of[$id]}"
		ln -s "$ds/$path" "$out/$dir/${name_of[$id]}/$(basename "$path")"
	done <"$list"
}

while IFS=, read -r _ id _ || [ -n "${id:-}" ]; do
	has_val[${id// /}]=1
done <"$ds/val.txt"

if [ "$train" = cross ]; then
	for id in "${!has_val[@]}"; do
		mkdir -p "$out/catalog/${name_of[$id]}"
		ln -s "$ds${iconic_of[$id]}" "$out/catalog/${name_of[$id]}/iconic.jpg"
	done
	link "$ds/val.txt" catalog val
	link "$ds/train.txt" queries val
else
	for id in "${!name_of[@]}"; do
		mkdir -p "$out/catalog/${name_of[$id]}"
		ln -s "$ds${iconic_of[$id]}" "$out/catalog/${name_of[$id]}/iconic.jpg"
	done
	link "$ds/train.txt" catalog all "$train"
	link "$ds/val.txt" queries all
fi

echo "grocery-layout: $(ls "$out/catalog" | wc -l) catalog products ($(find -L "$out/catalog" -type f | wc -l) images), $(find -L "$out/queries" -type f | wc -l) queries in $(ls "$out/queries" | wc -l) classes" >&2
