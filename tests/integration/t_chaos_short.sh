#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The short chaos run: a master and three workers on their own network
# namespaces (a bridge in a private "switch" namespace, 10.213.0.0/24 inside
# it only), a mixed workload of about 350 tasks (small DAGs among them), and
# each fault once: worker SIGKILL and restart, worker SIGSTOP past the worker
# timeout, a worker cut off past the worker timeout and healed, a worker cut
# off past its master timeout
# (it must exit 3), master SIGKILL and restart, a full disk, and a lossy, slow
# link throughout. tests/chaos/check.py then checks the invariants (nothing
# acknowledged lost, terminal states recorded once, right outputs, no
# overlapping attempts, no superseded result accepted, retry and crash limits,
# no task started before its dependencies, failed dependencies cancel)
# and the behaviour. See tests/chaos/run.sh.
#
# Needs root, iproute2 and nftables; otherwise it is skipped (exit 0).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
NAME=$(basename "$0" .sh)
. "$HERE/../chaos/netns.sh"
if ! why=$(ch_available); then
    echo "skipped: $why"
    echo "$NAME: 0 passed, 0 failed, 1 skipped"
    exit 0
fi
bash "$HERE/../chaos/run.sh" short --name "$NAME"
rc=$?
if [ "$rc" = 77 ]; then
    echo "$NAME: 0 passed, 0 failed, 1 skipped"
    exit 0
fi
exit "$rc"
