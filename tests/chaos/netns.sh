# SPDX-License-Identifier: MIT
# Test hosts for the chaos runs: network namespaces joined by a bridge, the
# faults that can be done to them, and a cleanup that leaves nothing behind.
#
# Sourced by tests/chaos/run.sh (bash). Layout, for CH_ID=dtrch-PID:
#
#   CH_ID-sw      the "switch": bridge br0 and one port p-HOST per host
#   CH_ID-HOST    one per host (master, w1, w2, ...): eth0 = CH_SUBNET.N/24,
#                 loopback up, no other interface and no route anywhere else
#
# Every address lives inside these namespaces, so no packet can leave them:
# the root namespace is never given an interface or a route. Two runs at once
# do not meet either: each has its own switch, namespace names carry the PID.
#
# Faults (all inside our namespaces):
#   ch_partition HOST PEER_ADDR / ch_heal HOST    nftables drop in HOST's namespace
#   ch_partition_oneway HOST PEER_ADDR in|out     the same, one direction only
#   ch_partition_set HOST "ADDR, ADDR"            the same, several peers
#   ch_link_down HOST / ch_link_up HOST           the switch port of HOST
#   ch_loss HOST PCT                              nftables numgen random drop, both ways
#   ch_rate HOST RATE                             tc tbf on both ends of HOST's link
# (This kernel has no netem: loss is done with nftables, rate with tbf.)
#
# Processes: ch_spawn NAME HOST CMD... starts CMD in HOST's namespace in the
# background (stdout/stderr appended to $CH_DIR/NAME.out/.err) and records its
# PID in CH_PIDS and NAME_PID. ch_cleanup kills the recorded PIDs, then every
# process still inside one of our namespaces (orphaned task processes of a
# killed worker), each by PID, then deletes the namespaces.

CH_ID=${CH_ID:-dtrch-$$}
CH_SUBNET=${CH_SUBNET:-10.213.0}
CH_HOSTS=()
CH_PIDS=()
CH_NETNS_UP=0
declare -A CH_ADDR=()

ch_ns() { echo "$CH_ID-$1"; }

# ch_available: true when we can create namespaces, veths, a bridge and
# nftables rules (root, iproute2 with netns support, nft installed).
# Prints the reason on stdout when not.
ch_available() {
    if [ "$(id -u)" != 0 ]; then
        echo "not root"
        return 1
    fi
    if ! command -v ip >/dev/null 2>&1 || ! ip netns list >/dev/null 2>&1; then
        echo "ip netns is unavailable (install iproute2)"
        return 1
    fi
    if ! command -v nft >/dev/null 2>&1; then
        echo "nft is not installed (install nftables)"
        return 1
    fi
    if ! command -v tc >/dev/null 2>&1; then
        echo "tc is not installed (install iproute2)"
        return 1
    fi
    local probe="$CH_ID-probe" ok=0
    if ip netns add "$probe" 2>/dev/null; then
        if ip -n "$probe" link add p0 type veth peer name p1 2>/dev/null &&
            ip -n "$probe" link add b0 type bridge 2>/dev/null &&
            ip netns exec "$probe" nft add table inet chaos_probe 2>/dev/null; then
            ok=1
        fi
        ip netns del "$probe" 2>/dev/null
    fi
    if [ "$ok" != 1 ]; then
        echo "cannot create network namespaces, veths, bridges or nftables tables here"
        return 1
    fi
    return 0
}

# ch_reap_stale: deletes namespaces left by earlier runs of this harness whose
# creating shell is gone (names dtrch-PID-*, PID dead), killing what is still
# inside them first. Only names this harness makes are touched.
ch_reap_stale() {
    local ns pid p
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^dtrch-[0-9]+-' || true); do
        pid=${ns#dtrch-}
        pid=${pid%%-*}
        [ "$pid" = "$$" ] && continue
        kill -0 "$pid" 2>/dev/null && continue
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null && echo "chaos: removed stale namespace $ns"
    done
}

# ch_net_up HOST=N ...: the switch, then one namespace per host with address
# CH_SUBNET.N. Example: ch_net_up master=2 w1=11 w2=12 w3=13
ch_net_up() {
    local sw
    sw=$(ch_ns sw)
    ip netns add "$sw" || return 1
    CH_NETNS_UP=1
    CH_HOSTS+=(sw)
    ip -n "$sw" link set lo up || return 1
    ip -n "$sw" link add br0 type bridge || return 1
    ip -n "$sw" link set br0 up || return 1
    local spec host n ns
    for spec in "$@"; do
        host=${spec%%=*}
        n=${spec#*=}
        ns=$(ch_ns "$host")
        ip netns add "$ns" || return 1
        CH_HOSTS+=("$host")
        # Created inside the switch namespace, the peer moved straight into the
        # host's: the root namespace never sees either end.
        ip -n "$sw" link add "p-$host" type veth peer name eth0 netns "$ns" || return 1
        ip -n "$sw" link set "p-$host" master br0 || return 1
        ip -n "$sw" link set "p-$host" up || return 1
        ip -n "$ns" link set lo up || return 1
        ip -n "$ns" addr add "$CH_SUBNET.$n/24" dev eth0 || return 1
        ip -n "$ns" link set eth0 up || return 1
        CH_ADDR[$host]="$CH_SUBNET.$n"
    done
    # Bridge ports take a moment to forward (no STP: forward delay 0 by default
    # only when STP is off, which it is for a new bridge).
    return 0
}

# ch_exec HOST CMD...: run CMD inside HOST's namespace (foreground).
ch_exec() {
    local host=$1
    shift
    ip netns exec "$(ch_ns "$host")" "$@"
}

# ch_spawn NAME HOST CMD...: background CMD in HOST's namespace.
# `ip netns exec` execs CMD in place, so the PID is CMD's own.
ch_spawn() {
    local name=$1 host=$2
    shift 2
    ip netns exec "$(ch_ns "$host")" "$@" >>"$CH_DIR/$name.out" 2>>"$CH_DIR/$name.err" &
    local pid=$!
    CH_PIDS+=("$pid")
    printf -v "${name}_PID" '%s' "$pid"
}

# ch_is_dead PID: true once the process is gone or a zombie.
ch_is_dead() {
    ! kill -0 "$1" 2>/dev/null && return 0
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# ---- faults ------------------------------------------------------------------

# ch_partition HOST PEER: drop every packet between HOST and PEER (an address),
# both ways, in HOST's namespace. Silent: no RST, no ICMP.
ch_partition() {
    local host=$1 peer=$2
    ch_exec "$host" nft -f - <<EOF
table inet chaos_part {
    chain in { type filter hook input priority -10; policy accept; ip saddr $peer drop; }
    chain out { type filter hook output priority -10; policy accept; ip daddr $peer drop; }
}
EOF
}

# ch_partition_oneway HOST PEER in|out: drop only what PEER sends to HOST
# ("in") or only what HOST sends to PEER ("out"), in HOST's namespace.
ch_partition_oneway() {
    local host=$1 peer=$2 dir=$3 rule
    if [ "$dir" = in ]; then
        rule="chain in { type filter hook input priority -10; policy accept; ip saddr $peer drop; }"
    else
        rule="chain out { type filter hook output priority -10; policy accept; ip daddr $peer drop; }"
    fi
    ch_exec "$host" nft -f - <<EOF
table inet chaos_part {
    $rule
}
EOF
}

# ch_partition_set HOST "ADDR, ADDR": the same for several peers at once
# (a group member cut off from the other members: workers and clients still
# reach it).
ch_partition_set() {
    local host=$1 peers=$2
    ch_exec "$host" nft -f - <<EOF
table inet chaos_part {
    chain in { type filter hook input priority -10; policy accept; ip saddr { $peers } drop; }
    chain out { type filter hook output priority -10; policy accept; ip daddr { $peers } drop; }
}
EOF
}

ch_heal() {
    ch_exec "$1" nft delete table inet chaos_part 2>/dev/null
    return 0
}

ch_link_down() { ip -n "$(ch_ns sw)" link set "p-$1" down; }
ch_link_up() { ip -n "$(ch_ns sw)" link set "p-$1" up; }

# ch_loss HOST PCT: drop PCT percent of HOST's packets to and from the subnet,
# each direction independently (so about 2*PCT percent of round trips see a
# loss). PCT 0 removes the rule.
ch_loss() {
    local host=$1 pct=$2
    ch_exec "$host" nft delete table inet chaos_loss 2>/dev/null
    [ "$pct" -gt 0 ] || return 0
    ch_exec "$host" nft -f - <<EOF
table inet chaos_loss {
    chain in { type filter hook input priority -5; policy accept;
        ip saddr $CH_SUBNET.0/24 numgen random mod 100 < $pct drop; }
    chain out { type filter hook output priority -5; policy accept;
        ip daddr $CH_SUBNET.0/24 numgen random mod 100 < $pct drop; }
}
EOF
}

# ch_rate HOST RATE: a token bucket (e.g. 2mbit) on both ends of HOST's link.
ch_rate() {
    local host=$1 rate=$2
    ch_exec "$host" tc qdisc replace dev eth0 root tbf rate "$rate" burst 32kbit latency 200ms &&
        ip netns exec "$(ch_ns sw)" tc qdisc replace dev "p-$host" root tbf rate "$rate" \
            burst 32kbit latency 200ms
}

# ---- cleanup -----------------------------------------------------------------

# ch_cleanup: kills our processes (recorded ones, then anything left inside our
# namespaces, e.g. task processes orphaned by a killed worker), each by PID,
# and deletes every namespace this run made (their veths and the bridge go
# with them). Safe to call twice.
ch_cleanup() {
    local pid host ns try left
    for pid in "${CH_PIDS[@]}"; do
        kill -9 "$pid" 2>/dev/null
    done
    for pid in "${CH_PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    CH_PIDS=()
    [ "$CH_NETNS_UP" = 1 ] || return 0
    for try in 1 2 3 4 5 6 7 8 9 10; do
        left=0
        for host in "${CH_HOSTS[@]}"; do
            ns=$(ch_ns "$host")
            for pid in $(ip netns pids "$ns" 2>/dev/null); do
                left=1
                kill -9 "$pid" 2>/dev/null
            done
        done
        [ "$left" = 0 ] && break
        sleep 0.1
    done
    for host in "${CH_HOSTS[@]}"; do
        ip netns del "$(ch_ns "$host")" 2>/dev/null
    done
    CH_NETNS_UP=0
    left=$(ip netns list 2>/dev/null | awk '{print $1}' | grep -c "^$CH_ID-" || true)
    if [ "$left" != 0 ]; then
        echo "chaos: WARNING: $left namespace(s) of $CH_ID could not be deleted" >&2
        return 1
    fi
    return 0
}
