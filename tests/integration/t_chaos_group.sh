#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The short chaos run of a master group: three members on hosts (network
# namespaces) of their own, three workers and a client host on others, a
# mixed workload of about 350 tasks, and each group fault once: a follower
# cut off from the other members, the leader cut off from the majority (it
# must step down; another leads; healed, it follows), the leader SIGKILLed
# and restarted on its state dir, and member m3's state dir (a tmpfs) full
# (it must stop; the other two carry on). tests/chaos/check.py then checks
# the invariants of tests/chaos/run.sh's runs plus the group's: one leader
# per term, dispatches only while leading, a lease names one task, no task
# runs under two leases at once. See tests/chaos/README.md.
#
# Needs root, iproute2 and nftables; otherwise it is skipped (exit 77).
# Every process and namespace it creates is removed, on failure too.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
NAME=$(basename "$0" .sh)
. "$HERE/../chaos/netns.sh"
if ! why=$(ch_available); then
    echo "skipped: $why"
    echo "$NAME: 0 passed, 0 failed, 1 skipped"
    exit 77
fi
exec bash "$HERE/../chaos/run.sh" group --name "$NAME"
