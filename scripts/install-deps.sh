#!/bin/sh
# install-deps.sh - install the Debian 12 packages lvseg needs, idempotently:
# quiet and quick when all are present, apt-get (through sudo when not root)
# for the missing ones.  Build: compiler, msgpack-c, OpenBLAS, libpng, GDCM.
# Tests: bats with its helpers, and the independent references the tests
# compare against (Debian's NumPy, msgpack, pydicom, scikit-image, SciPy,
# PyTorch, OpenCV, PIL).
set -eu
pkgs="build-essential pkg-config libmsgpack-dev libopenblas-dev libpng-dev
libgdcm-dev libgdcm-tools zlib1g-dev bats bats-assert bats-support python3 python3-numpy
python3-msgpack python3-pydicom python3-skimage python3-scipy python3-torch python3-opencv
python3-pil"
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing" >&2
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >&2
