#!/usr/bin/env bash
# Memory limits under a real cgroup v2 hierarchy (issue 13). This host binds
# the memory controller to cgroup v1, so t_resources_mem.sh can only test
# the v1 path; this test boots Debian's kernel under qemu (TCG; KVM with
# DTR_VM_ACCEL=kvm) with an initramfs it makes itself: this build's dtr and
# the libraries ldd names, busybox, and an /init that mounts cgroup2 alone
# at /sys/fs/cgroup, runs a master and a worker (--mem 1G --cpus 2) on
# 127.0.0.1 and three tasks: (a) --mem 64M allocating 300 MB, killed, fails
# "out of memory (limit 64M)"; (b) the same under --mem 512M succeeds (its
# cgroup's memory.peak shows the 300 MB were touched); (c) --cpus 0.5 runs
# in its own cgroup with cpu.max "50000 100000". That worker is in the
# root cgroup; two more start as services would: W2 alone in /svc (it moves
# into /svc/dtr-worker, with its guard, and task cgroups go under /svc), W3
# sharing /shared with another process (task cgroups go under /dtr), each
# with a 64M task killed for memory. Then it prints what the host checks
# between markers on the serial console, stops the workers and the master
# (exit 0; a sanitizer build's reports are checked) and powers off. The
# host checks the workers' "cgroup v2" lines, the results, and that no
# task cgroup was left behind.
# Needs qemu-system-x86_64 and /bin/busybox (Debian: qemu-system-x86,
# busybox-static or busybox; scripts/install-deps.sh installs them) and a kernel image:
# linux-image-<version>-amd64 is fetched with apt-get download (never
# installed) and its vmlinuz cached in the build dir's vm-cache/, so reruns
# need no network. Skips (77) when any of these cannot be had.
. "$(dirname "$0")/lib.sh"

skip() {
    echo "skipped: $*"
    exit 77
}
[ "$(uname -m)" = x86_64 ] || skip "needs an x86_64 host (runs an amd64 kernel)"
QEMU=$(command -v qemu-system-x86_64) ||
    skip "qemu-system-x86_64 is not installed (Debian: qemu-system-x86; scripts/install-deps.sh installs it)"
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || skip "no $BUSYBOX (Debian: busybox-static; scripts/install-deps.sh installs it)"

# The kernel: the newest cached one, else the version linux-image-amd64
# depends on, fetched (not installed: no hooks run) and cached.
CACHE=$(dirname "$DTR")/vm-cache
mkdir -p "$CACHE" 2>/dev/null && [ -w "$CACHE" ] || CACHE=$T/vm-cache
mkdir -p "$CACHE"
KERNEL=$(ls "$CACHE"/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -n 1)
if [ -z "$KERNEL" ]; then
    command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
        skip "no kernel cached in $CACHE and no apt-get/dpkg-deb to fetch one"
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
    [ -n "$pkg" ] || skip "apt-cache knows no linux-image-amd64 (apt-get update?)"
    mkdir -p "$T/deb"
    (cd "$T/deb" && apt-get download "$pkg") >apt.log 2>&1 ||
        skip "apt-get download $pkg failed: $(tail -n 2 apt.log)"
    ver=${pkg#linux-image-}
    dpkg-deb --fsys-tarfile "$T"/deb/"$pkg"_*.deb | tar -xO "./boot/vmlinuz-$ver" >"$T/vmlinuz" &&
        [ -s "$T/vmlinuz" ] || skip "no boot/vmlinuz-$ver in $(ls "$T"/deb)"
    rm -rf "$T/deb"
    KERNEL=$CACHE/vmlinuz-$ver
    mv "$T/vmlinuz" "$KERNEL.tmp.$$" && mv "$KERNEL.tmp.$$" "$KERNEL"
fi
pass "kernel $(basename "$KERNEL")"

# The initramfs: dtr, its libraries and loader at the paths ldd gives,
# busybox (its applet links made by /init), and /init.
R=$T/root
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,root}
cp "$DTR" "$R/bin/dtr"
cp "$BUSYBOX" "$R/bin/busybox"
# (Debian's busybox-static has none; its dynamic busybox has a few)
# The master loads libsqlite3 when it opens its journal (ldd does not list it).
libs=$( (ldd "$DTR"; ldd "$BUSYBOX") 2>/dev/null |
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $2 ~ /^\(/ { print $1 }' | sort -u)
sqlite=$(/sbin/ldconfig -p | awk '$1 == "libsqlite3.so.0" && /x86-64/ { print $NF; exit }')
[ -n "$sqlite" ] || die "ldconfig -p does not list libsqlite3.so.0 (Debian: libsqlite3-0)"
libs="$libs $sqlite"
for lib in $libs; do
    mkdir -p "$R$(dirname "$lib")"
    cp -L "$lib" "$R$lib"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
echo 'root:x:0:' >"$R/etc/group"
echo '127.0.0.1 localhost' >"$R/etc/hosts"
cat >"$R/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
cd /tmp
# waits up to $2 half-seconds for the command $1
until_ok() {
    n=0
    until eval "$1" >/dev/null 2>&1; do
        n=$((n + 1))
        [ "$n" -ge "$2" ] && return 1
        sleep 0.5
    done
}
dtr master --port 4999 --http off --state-dir /tmp/state --log-dir /tmp/logs \
    >master.out 2>master.err &
MPID=$!
until_ok "grep -q ' listening on ' master.out" 120
export DTR_MASTER=$(sed -n 's/.* listening on \([^ ]*\)$/\1/p' master.out | head -n 1)
dtr worker --id W --master "$DTR_MASTER" --mem 1G --cpus 2 --log-dir /tmp/logs \
    >worker.out 2>worker.err &
WPID=$!
until_ok "grep -q ' listening on ' worker.out" 120
until_ok "dtr status --json | grep -q '\"id\":\"W\"'" 120
cgdir='/sys/fs/cgroup$(sed -n "s/^0:://p" /proc/self/cgroup)'
dtr submit --id hog --mem 64M --retries 0 -- dd if=/dev/zero of=/dev/null bs=300M count=1
dtr submit --id fits --mem 512M --retries 0 -- \
    sh -c "dd if=/dev/zero of=/dev/null bs=300M count=1 && echo peak=\$(cat $cgdir/memory.peak)"
dtr submit --id half --cpus 0.5 --retries 0 -- \
    sh -c "echo cgroup=\$(cat /proc/self/cgroup) && echo cpu.max=\$(cat $cgdir/cpu.max)"
for id in hog fits half; do dtr wait "$id" --timeout 120s >/dev/null; done
# the task cgroups go when their tasks end (the worker's side of it)
until_ok "! ls -d /sys/fs/cgroup/dtr-[0-9]* " 60
echo "cgroups left: $(ls -d /sys/fs/cgroup/dtr-[0-9]* 2>/dev/null | tr '\n' ' ')" >cgroups-left

# Two more workers as services would start them: W2 alone in a cgroup of
# its own (it moves into a child dtr-worker and hands memory to its task
# cgroups), W3 sharing its cgroup with another process (task cgroups go
# under /sys/fs/cgroup/dtr instead). Each gets a task over its limit.
mkdir /sys/fs/cgroup/svc /sys/fs/cgroup/shared
sh -c 'echo $$ >/sys/fs/cgroup/svc/cgroup.procs &&
    exec dtr worker --id W2 --master "$DTR_MASTER" --mem 1G --cpus 2 --resource w2=1 \
        --log-dir /tmp/logs' >w2.out 2>w2.err &
W2PID=$!
sh -c 'echo $$ >/sys/fs/cgroup/shared/cgroup.procs && { sleep 1000 & } &&
    exec dtr worker --id W3 --master "$DTR_MASTER" --mem 1G --cpus 2 --resource w3=1 \
        --log-dir /tmp/logs' >w3.out 2>w3.err &
W3PID=$!
until_ok "grep -q ' listening on ' w2.out && grep -q ' listening on ' w3.out" 120
for w in 2 3; do
    dtr submit --id "hog$w" --mem 64M --resource "w$w=1" --retries 0 -- \
        sh -c 'cat /proc/self/cgroup && exec dd if=/dev/zero of=/dev/null bs=300M count=1'
done
for id in hog2 hog3; do dtr wait "$id" --timeout 120s >/dev/null; done
until_ok "[ -z \"\$(find /sys/fs/cgroup -name 'dtr-[0-9]*')\" ]" 60

echo "=== DTR-VM-BEGIN"
for id in hog fits half hog2 hog3; do
    echo "result $id $(dtr result "$id" --json)"
done
echo "cgroup mounts: $(grep cgroup /proc/mounts | cut -d' ' -f2,3 | tr '\n' ' ')"
cat cgroups-left
echo "W2 in $(cat /proc/$W2PID/cgroup), W3 in $(cat /proc/$W3PID/cgroup)"
echo "task cgroups left: $(find /sys/fs/cgroup -name 'dtr-[0-9]*' | tr '\n' ' ')"
grep -h cgroup /tmp/logs/worker-W*.log | sed 's/^/worker log: /'
# stopped, so that a sanitizer build checks for leaks at exit
kill -TERM "$WPID" "$W2PID" "$W3PID"
for pid in "$WPID" "$W2PID" "$W3PID"; do
    wait "$pid"
    echo "worker exit: $?"
done
kill -TERM "$MPID"
wait "$MPID"
echo "master exit: $?"
grep -h -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" ./*.err |
    sed 's/^/sanitizer: /'
echo "=== DTR-VM-END"
sync
poweroff -f
EOF
chmod 755 "$R/init"
(cd "$R" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null) >initramfs.cpio || die "cpio failed"
pass "initramfs $(du -k initramfs.cpio | cut -f1) KiB"

# TCG unless DTR_VM_ACCEL says kvm: the test runs in ~15 s under TCG, and
# a /dev/kvm that opens may still not boot a guest (nested KVM here hangs
# at "Booting from ROM" or aborts on an MSR), which only a timeout tells.
# One host thread for both vCPUs: multi-threaded TCG (qemu 7.2) once left
# this guest in a soft lockup on both CPUs at boot, 1 run in 5.
ACCEL=${DTR_VM_ACCEL:-tcg,thread=single}
"$QEMU" -accel "$ACCEL" -smp 2 -m 1024 -nographic -no-reboot \
    -kernel "$KERNEL" -initrd initramfs.cpio \
    -append "console=ttyS0 loglevel=1 panic=-1 rdinit=/init" \
    >console.log 2>qemu.err </dev/null &
QEMU_PID=$!
PIDS+=("$QEMU_PID")
# Fixed (not scaled by WAIT_SCALE): inside ctest's 600 s even under ASan.
limit=240
deadline=$((SECONDS + limit))
while kill -0 "$QEMU_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.2
done
if kill -0 "$QEMU_PID" 2>/dev/null; then
    kill -9 "$QEMU_PID"
    wait "$QEMU_PID" 2>/dev/null
    die "the VM did not power off within ${limit}s; console: $(tail -n 30 console.log)"
fi
wait "$QEMU_PID" 2>/dev/null
grep -q "=== DTR-VM-END" console.log ||
    die "the VM stopped early: $(tail -n 30 console.log) $(tail -n 5 qemu.err)"
sed -n '/=== DTR-VM-BEGIN/,/=== DTR-VM-END/p' console.log | tr -d '\r' >vm.out
[ "$(grep -c '^worker exit: 0$' vm.out)" = 3 ] && grep -q '^master exit: 0$' vm.out &&
    pass "the workers and the master exit 0 on SIGTERM" || fail "$(grep ' exit: ' vm.out)"
grep -q "sanitizer: " vm.out && fail "sanitizer report in the VM: $(grep 'sanitizer: ' vm.out)"

grep -q '^cgroup mounts: /sys/fs/cgroup cgroup2 *$' vm.out &&
    pass "the VM has cgroup2 alone at /sys/fs/cgroup" || fail "$(grep '^cgroup mounts' vm.out)"
grep "worker log: .* worker-W .*memory limits enforced with cgroups under /sys/fs/cgroup (cgroup v2" vm.out |
    grep -q "cpu.max for fractional CPUs" &&
    pass "W (root cgroup) enforces limits with cgroup v2, cpu.max too" ||
    fail "W: $(grep 'worker log: ' vm.out)"
hog=$(grep '^result hog ' vm.out)
echo "$hog" | grep -q '"state":"failed"' && echo "$hog" | grep -q 'out of memory (limit 64M)"' &&
    pass "(a) --mem 64M, 300 MB: failed, out of memory (limit 64M)" || fail "(a) $hog"
fits=$(grep '^result fits ' vm.out)
peak=$(echo "$fits" | sed -n 's/.*peak=\([0-9]*\).*/\1/p')
echo "$fits" | grep -q '"state":"succeeded"' && echo "$fits" | grep -q '1+0 records out' &&
    pass "(b) --mem 512M, 300 MB: succeeded" || fail "(b) $fits"
[ -n "$peak" ] && [ "$peak" -ge 314572800 ] &&
    pass "(b) its cgroup's memory.peak $peak: the 300 MB were touched" || fail "(b) peak: $fits"
half=$(grep '^result half ' vm.out)
echo "$half" | grep -q '"state":"succeeded"' && echo "$half" | grep -q 'cgroup=0::/dtr-[0-9]*-' &&
    pass "(c) --cpus 0.5 ran in a cgroup of its own" || fail "(c) $half"
echo "$half" | grep -q 'cpu.max=50000 100000' &&
    pass "(c) with cpu.max 50000 100000" || fail "(c) cpu.max: $half"
grep -q '^cgroups left: *$' vm.out && pass "W's task cgroups removed" ||
    fail "$(grep '^cgroups left' vm.out)"

grep -q "worker log: .* worker-W2 .*enforced with cgroups under /sys/fs/cgroup/svc (cgroup v2" vm.out &&
    grep -q '^W2 in 0::/svc/dtr-worker,' vm.out &&
    pass "W2 (alone in /svc) moved into /svc/dtr-worker, task cgroups under /svc" ||
    fail "W2: $(grep -e 'worker log: .* worker-W2 ' -e '^W2 in' vm.out)"
grep -q "worker log: .* worker-W3 .*enforced with cgroups under /sys/fs/cgroup/dtr (cgroup v2" vm.out &&
    grep -q ', W3 in 0::/shared$' vm.out &&
    pass "W3 (sharing /shared) stayed there, task cgroups under /dtr" ||
    fail "W3: $(grep -e 'worker log: .* worker-W3 ' -e '^W2 in' vm.out)"
for w in 2:/svc 3:/dtr; do
    r=$(grep "^result hog${w%%:*} " vm.out)
    echo "$r" | grep -q '"state":"failed"' && echo "$r" | grep -q 'out of memory (limit 64M)"' &&
        echo "$r" | grep -q "\"stdout\":\"0::${w#*:}/dtr-[0-9]*-" &&
        pass "hog${w%%:*} ran in ${w#*:}/dtr-*, failed: out of memory (limit 64M)" || fail "hog${w%%:*}: $r"
done
grep -q '^task cgroups left: *$' vm.out && pass "no task cgroup left anywhere" ||
    fail "$(grep '^task cgroups left' vm.out)"
finish
