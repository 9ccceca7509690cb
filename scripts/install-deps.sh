#!/bin/sh
# install-deps.sh - install the Debian 12 packages lvseg needs, idempotently:
# quiet and quick when all are present, apt-get (through sudo when not root)
# for the missing ones (--check: exit 1 when one is missing, install
# nothing).  Build: compiler, msgpack-c, OpenBLAS, libpng, GDCM.
# Tests: bats with its helpers, the programs they call beyond the Essential
# ones (GNU time for peak memory), and the independent references the tests
# compare against (Debian's NumPy, msgpack, pydicom, scikit-image, SciPy,
# PyTorch, OpenCV, Pillow/PIL), gnuplot for the lab's curves, and
# dicom3tools (dciodvfy checks mask2dcm's SEG files); GNU parallel,
# openssh-server, slurm-wlm and munge run the archive shards over ssh and
# as a Slurm job array (tests/archives.bats).  Fuzzing (make fuzz): clang
# with its libFuzzer runtime and OpenMP (libomp-dev).
# tests/deps.bats checks that this list covers every
# program and Python module the tests use (tests/ref/deps_check.py).
set -eu
pkgs="build-essential pkg-config libmsgpack-dev libopenblas-dev libpng-dev
libgdcm-dev libgdcm-tools zlib1g-dev bats bats-assert bats-support time python3 python3-numpy
python3-msgpack python3-pydicom python3-skimage python3-scipy python3-torch python3-opencv
python3-pil gnuplot-nox dicom3tools
parallel openssh-server slurm-wlm munge clang libomp-dev"
# one dpkg-query for all: "NAME STATUS..." per known package
# shellcheck disable=SC2086
have=$(dpkg-query -W -f='${Package} ${Status}\n' $pkgs 2>/dev/null |
	awk '/ ok installed$/ { print $1 }')
missing=
for p in $pkgs; do
	case " $(echo $have) " in
	*" $p "*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0
# --check: only say (by the exit status) whether something is missing
[ "${1:-}" = --check ] && exit 1
echo "install-deps: installing:$missing" >&2
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >&2
