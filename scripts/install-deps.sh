#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian packages dtr needs to build and test, when missing,
# and any packages named as arguments (say, clang-format for `make format`).
set -e
pkgs="build-essential cmake pkg-config libuv1-dev libjson-c-dev libsqlite3-dev
      libsodium-dev libssl-dev openssl libinih-dev libcmocka-dev parallel iproute2 procps
      nftables python3 groff man-db bash-completion
      debhelper lintian fakeroot $*"
# the master's HTTP API (libmicrohttpd); its tests use curl and promtool
pkgs="$pkgs libmicrohttpd-dev curl prometheus"
# the master group's replication (src/group/, issue 18): C-Raft, linked statically
pkgs="$pkgs libraft-dev liblz4-dev"
# the Python client's tests (python/tests, issue 15)
pkgs="$pkgs python3-pytest"
# pip install ./python, offline (tests/integration/t_python_pip.sh)
pkgs="$pkgs python3-pip python3-setuptools"
# the dashboard's browser test (t_dashboard.sh): headless Chromium via Selenium
pkgs="$pkgs chromium chromium-driver python3-selenium"
# dtr alloc's test runs a private Slurm cluster (tests/integration/t_slurm.sh)
pkgs="$pkgs slurm-wlm munge"
# the cgroup v2 test's VM (t_cgroup_v2_vm.sh): qemu and a busybox (static,
# unless Debian's busybox is there: the two conflict); it fetches its kernel
pkgs="$pkgs qemu-system-x86"
dpkg-query -W -f='${Status}' busybox 2>/dev/null | grep -q "install ok installed" ||
    pkgs="$pkgs busybox-static"
# make bench's peers in the exec and latency figures (issue 17)
pkgs="$pkgs gearman-job-server gearman-tools beanstalkd"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing" >&2
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
