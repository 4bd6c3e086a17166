#!/usr/bin/env bash
# install-deps.sh: installs every native dependency EBRCS needs on Debian 12 (bookworm).
#
# Idempotent and non-interactive: each step first checks whether its result is already in place
# and skips itself, so a second run takes seconds. Must run as root (CI and the dev machines do).
#
#   GStreamer 1.22 + plugins      apt (go-gst v1.4.0 needs the 1.22 headers)
#   libfaiss_c.so                 built from Debian's own faiss 1.7.3 source (Debian ships only
#                                 the static C++ library and the C API headers)
#   libonnxruntime.so 1.24.1      taken from the npm package onnxruntime-node@1.24.1 (the only
#                                 registry here that ships the prebuilt library)
#   chromium + chromium-driver    headless browser tests (iproute2, util-linux: their network namespace)
#   axe-core 4.10.3               accessibility checks the browser tests inject into the pages:
#                                 npm's axe-core package, its axe.min.js put in build/axe-core/
#                                 (ignored by git; never vendored)
#   python3-onnx, python3-opencv, python3-pil  test-only yardsticks (tiny ONNX models, OpenCV,
#                                 PIL resampling)
#   nats-server, postgresql-15    more than one server: the events broker (NATS 2.9, JetStream)
#                                 and the catalog of record; tests run private instances of
#                                 both (testkit/natstest, testkit/pgtest), so neither is left
#                                 running by the install: no default PostgreSQL cluster is made
set -euo pipefail

PREFIX=/usr/local
ORT_VERSION=1.24.1
AXE_VERSION=4.10.3
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FAISS_VERSION=1.7.3-2

# in_ld_cache LIB: whether the dynamic linker cache knows LIB. (Not `ldconfig -p | grep -q`: with
# pipefail, grep exiting early makes ldconfig die of SIGPIPE and the check fail at random.)
in_ld_cache() { local cache; cache=$(ldconfig -p); [[ "$cache" == *"$1 "* ]]; }

log() { printf '[install-deps] %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null; then exec sudo -E bash "$0" "$@"; fi
	log "must run as root"; exit 1
fi

APT_PACKAGES=(
	pkg-config g++ make git ca-certificates curl
	libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
	gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
	gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools gstreamer1.0-rtsp
	libgstrtspserver-1.0-dev
	libfaiss-dev libblas-dev liblapack-dev libopenblas0-pthread libgomp1
	chromium chromium-driver iproute2 util-linux
	python3-onnx python3-numpy python3-opencv python3-pil
	fonts-dejavu-core fonts-noto-cjk
	nodejs
	nats-server postgresql-15
)

missing_packages() {
	local p
	for p in "${APT_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
	done
}

install_apt() {
	local missing
	missing=$(missing_packages)
	if [ -z "$missing" ]; then log "apt packages: present"; return; fi
	log "apt packages: installing $(echo $missing | wc -w) missing"
	export DEBIAN_FRONTEND=noninteractive
	# PostgreSQL's packages would make and start a "main" cluster on port 5432: the tests
	# make their own, and a deployment chooses its own.
	mkdir -p /etc/postgresql-common/createcluster.d
	[ -f /etc/postgresql-common/createcluster.d/ebrcs.conf ] ||
		echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/ebrcs.conf
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

install_faiss_c() {
	if [ -f "$PREFIX/lib/libfaiss_c.so" ] && in_ld_cache libfaiss_c.so; then
		log "libfaiss_c: present"; return
	fi
	log "libfaiss_c: building from Debian source faiss=$FAISS_VERSION"
	local work; work=$(mktemp -d)
	trap 'rm -rf "$work"' RETURN
	# A private deb-src list so the machine's own apt configuration stays untouched.
	mkdir -p "$work/sources" "$work/lists/partial"
	cat >"$work/sources/src.sources" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	local aptopts=(-o APT::Sandbox::User=root -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/sources"
		-o "Dir::State::Lists=$work/lists")
	apt-get "${aptopts[@]}" update -qq
	(cd "$work" && apt-get "${aptopts[@]}" source --download-only -qq "faiss=$FAISS_VERSION" >/dev/null)
	tar -C "$work" -xf "$work"/faiss_*.orig.tar.*
	local src; src=$(find "$work" -maxdepth 1 -type d -name 'faiss-*' | head -1)
	# The C API sources are the .cpp files its CMakeLists lists: c_api/ and c_api/impl/, not
	# c_api/gpu/ (CUDA).
	mkdir -p "$work/obj"
	local f
	for f in $(cd "$src" && find c_api -name '*.cpp' -not -path 'c_api/gpu/*' | sort); do
		g++ -O2 -fPIC -std=c++11 -fopenmp -I"$src" -c "$src/$f" -o "$work/obj/$(echo "$f" | tr / _).o"
	done
	g++ -shared -o "$work/libfaiss_c.so" "$work"/obj/*.o \
		-Wl,--whole-archive /usr/lib/x86_64-linux-gnu/libfaiss.a -Wl,--no-whole-archive \
		-lblas -llapack -fopenmp
	install -m 0755 "$work/libfaiss_c.so" "$PREFIX/lib/libfaiss_c.so"
	# go-faiss includes <faiss/c_api/...>; Debian's libfaiss-dev already ships those headers.
	ldconfig
}

install_onnxruntime() {
	if [ -f "$PREFIX/lib/libonnxruntime.so.$ORT_VERSION" ] && in_ld_cache libonnxruntime.so.1; then
		log "libonnxruntime $ORT_VERSION: present"; return
	fi
	log "libonnxruntime $ORT_VERSION: from npm onnxruntime-node@$ORT_VERSION"
	ensure_npm
	local work; work=$(mktemp -d)
	trap 'rm -rf "$work"' RETURN
	(cd "$work" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
	tar -C "$work" -xzf "$work"/onnxruntime-node-*.tgz package/bin/napi-v6/linux/x64/libonnxruntime.so.1
	install -m 0755 "$work/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$PREFIX/lib/libonnxruntime.so.$ORT_VERSION"
	ln -sf "libonnxruntime.so.$ORT_VERSION" "$PREFIX/lib/libonnxruntime.so.1"
	ln -sf "libonnxruntime.so.1" "$PREFIX/lib/libonnxruntime.so"
	ldconfig
}

ensure_npm() {
	if ! command -v npm >/dev/null; then
		# Debian packages npm apart from nodejs (NodeSource's nodejs includes it).
		log "npm: installing"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
	fi
}

# install_axe puts axe-core's axe.min.js in build/axe-core/ for the browser tests (e2e): the
# file and the version it came from.
install_axe() {
	local dir="$ROOT/build/axe-core"
	if [ -f "$dir/axe.min.js" ] && [ "$(cat "$dir/VERSION" 2>/dev/null)" = "$AXE_VERSION" ]; then
		log "axe-core $AXE_VERSION: present"; return
	fi
	log "axe-core $AXE_VERSION: from npm"
	ensure_npm
	local work; work=$(mktemp -d)
	trap 'rm -rf "$work"' RETURN
	(cd "$work" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null)
	tar -C "$work" -xzf "$work"/axe-core-*.tgz package/axe.min.js
	mkdir -p "$dir"
	install -m 0644 "$work/package/axe.min.js" "$dir/axe.min.js"
	echo "$AXE_VERSION" >"$dir/VERSION"
}

start=$(date +%s)
install_apt
install_faiss_c
install_onnxruntime
install_axe
log "done in $(( $(date +%s) - start ))s"
