#!/usr/bin/env bash
# dtr alloc on a real Slurm: a private single-node cluster (munged with its
# own key and socket, slurmctld and slurmd with a generated slurm.conf, all
# in the test's temp dir, all this test's children, stopped by PID). The
# master submits Slurm jobs that run workers while tasks are queued; every
# task runs inside a Slurm job; a restarted master keeps the queue and its
# jobs without submitting them again; the jobs end once the queue is empty
# (--idle-timeout); dtr status and GET /api/v1/allocs show the queue and
# its workers; --workers-per-job 2 runs two workers in one job (srun); a
# master with TLS and a token gets workers that dial back with both.
# Skips only when not root or when the daemons cannot start here.
. "$(dirname "$0")/lib.sh"

skip() {
    echo "SKIP: $*"
    echo "$TEST_NAME: skipped"
    exit 0
}
[ "$(id -u)" -eq 0 ] || skip "needs root (slurmd runs jobs as their user; SlurmUser=root)"
for b in munged slurmctld slurmd sbatch squeue scancel sinfo; do
    command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] ||
        skip "$b is not installed (Debian: slurm-wlm, munge)"
done
export PATH="$PATH:/usr/sbin"

S=$T/slurm
mkdir -p "$S/munge" "$S/state" "$S/spool" "$S/log"
chmod 700 "$S/munge"
dd if=/dev/urandom of="$S/munge/key" bs=1024 count=1 2>/dev/null
chmod 600 "$S/munge/key"
munged -F -f --key-file="$S/munge/key" --socket="$S/munge/sock" --pid-file="$S/munge/pid" \
    --log-file="$S/munge/log" --seed-file="$S/munge/seed" >"$S/log/munged.out" 2>&1 &
PIDS+=($!)
MUNGE_PID=$!
# Free ports on loopback, from this test's block.
free_port() {
    local p
    for p in $(seq "$1" "$2"); do
        ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && { echo "$p"; return; }
    done
}
CTLD_PORT=$(free_port $((WHI - 40)) $((WHI - 21)))
SLURMD_PORT=$(free_port $((WHI - 20)) "$WHI")
cat >"$S/slurm.conf" <<EOC
ClusterName=dtrtest
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
AuthInfo=socket=$S/munge/sock
CredType=cred/munge
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=dtr Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOC
export SLURM_CONF=$S/slurm.conf
for _ in $(seq 100); do [ -S "$S/munge/sock" ] && break; sleep 0.05; done
[ -S "$S/munge/sock" ] || skip "munged did not start here: $(tail -n 3 "$S/log/munged.out")"
slurmctld -D -i -f "$S/slurm.conf" >"$S/log/slurmctld.out" 2>&1 &
PIDS+=($!)
CTLD_PID=$!
slurmd -D -f "$S/slurm.conf" -N localhost >"$S/log/slurmd.out" 2>&1 &
PIDS+=($!)
SLURMD_PID=$!
ready=
for _ in $(seq 200); do
    sinfo -h -o %T 2>/dev/null | grep -q idle && { ready=1; break; }
    is_dead "$CTLD_PID" && break
    is_dead "$SLURMD_PID" && break
    sleep 0.1
done
[ -n "$ready" ] || skip "slurmctld/slurmd did not come up on this machine: " \
    "$(tail -n 2 "$S/log/slurmctld.out" "$S/log/slurmd.out" "$S/log/slurmctld.log" 2>/dev/null | tr '\n' ' ')"
pass "a private Slurm cluster is up (slurmctld :$CTLD_PORT, slurmd :$SLURMD_PORT)"

# Stop the daemons on exit (lib.sh kills every PID in PIDS too, with -9):
# jobs and their workers are the daemons' children, so end those first.
stop_slurm() {
    scancel --user="$(id -un)" >/dev/null 2>&1
    for _ in $(seq 40); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.1; done
    kill -TERM "$SLURMD_PID" "$CTLD_PID" "$MUNGE_PID" 2>/dev/null
    for _ in $(seq 50); do
        is_dead "$SLURMD_PID" && is_dead "$CTLD_PID" && is_dead "$MUNGE_PID" && break
        sleep 0.1
    done
}
# (cleanup reads the test's exit status from $?: give it back after stop_slurm)
trap 'r=$?; stop_slurm; (exit "$r"); cleanup' EXIT

printf 'alloc-secret-%s\n' "$$" >token
start_master M --token-file "$T/token" --host 127.0.0.1
DT="--token-file $T/token"
dtr alloc add slurm --max-workers 2 --backlog 2 --idle-timeout 3s --time-limit 10m $DT \
    -- --cpus-per-task=1 >add.out 2>&1 || die "alloc add failed: $(cat add.out)"
QID=$(cat add.out)
[ "$QID" = a1 ] && pass "alloc add made queue a1" || fail "alloc add printed '$QID'"
dtr alloc list $DT | grep -q '^a1 ' && pass "alloc list shows it" || fail "list: $(dtr alloc list $DT)"
# Nothing is queued yet: no job.
sleep 1
[ -z "$(squeue -h)" ] && pass "no Slurm job while no task is queued" || fail "jobs: $(squeue -h)"

dtr submit $DT --id t --array 1-200 --retries 0 -- sh -c 'sleep 0.1; echo "job=$SLURM_JOB_ID"' \
    >/dev/null || die "submit failed"
wait_for "Slurm jobs to appear" "[ \$(squeue -h | wc -l) -ge 1 ]" 20 || finish
squeue -h -o '%i %j %T' >jobs-seen
grep -q 'dtr-a1' jobs-seen && pass "Slurm jobs appeared: $(tr '\n' ' ' <jobs-seen)" ||
    fail "no dtr-a1 job: $(cat jobs-seen)"
wait_for "a worker from a Slurm job to register" \
    "dtr status $DT --json | grep -q '\"id\":\"alloc-a1-'" 30 || finish
dtr status $DT >status.out
grep -Eq '^a1 +slurm +[0-9]+ +[0-9]+ +[1-9]' status.out &&
    pass "dtr status shows queue a1 with its workers: $(grep '^a1 ' status.out)" ||
    fail "status: $(cat status.out)"
curl -s -m 10 -H "Authorization: Bearer $(cat "$T/token")" \
    "$(cat "$T/state-M/http.addr")api/v1/allocs" >allocs.json
grep -q '"id":"a1".*"workers":[1-9]' allocs.json && pass "GET /api/v1/allocs: $(cat allocs.json)" ||
    fail "/api/v1/allocs: $(cat allocs.json)"

# The master restarts while its jobs run: the queue and its jobs are in the
# journal, squeue says they still exist, nothing is submitted twice.
kill -TERM "$M_PID"
wait "$M_PID"
start_master M2 --token-file "$T/token" --host 127.0.0.1 --state-dir "$T/state-M"
grep -q 'alloc: queue restored id=a1' "$T/logs/master.log" &&
    pass "the restarted master restored queue a1 with its jobs" ||
    fail "not restored: $(grep alloc: "$T/logs/master.log" | tail -3)"

dtr wait $DT --all --timeout 60s >wait.out 2>&1 && pass "all 200 tasks succeeded" ||
    fail "wait: $(tail -n 2 wait.out)"
dtr tasks $DT --json >tasks.json
ok=0
bad=
for i in $(seq 1 200); do
    out=$(dtr result $DT "t-$i" 2>/dev/null)
    case "$out" in
    job=[0-9]*) ok=$((ok + 1)) ;;
    *) bad="$bad t-$i:'$out'" ;;
    esac
done
[ "$ok" -eq 200 ] && pass "every task ran inside a Slurm job (SLURM_JOB_ID set)" ||
    fail "$((200 - ok)) tasks without SLURM_JOB_ID:$(echo "$bad" | cut -c1-300)"
grep -o '"worker":"[^"]*"' tasks.json | sort | uniq -c >by-worker
grep -qv 'alloc-a1-' by-worker && fail "tasks ran on other workers: $(cat by-worker)" ||
    pass "every task ran on an alloc worker: $(tr -s ' \n' ' ' <by-worker)"
# master.log is appended to across the restart
submitted=$(grep -c 'alloc: job submitted' "$T/logs/master.log")
[ "$submitted" -le 4 ] && pass "$submitted Slurm jobs submitted in all (max 2 workers, backlog 2)" ||
    fail "$submitted jobs submitted: $(grep 'alloc: job' "$T/logs/master.log")"

wait_for "the Slurm jobs to end after the queue emptied (idle timeout)" "[ -z \"\$(squeue -h)\" ]" 30 ||
    finish
pass "every Slurm job ended by itself once no task was left"
wait_for "the master to see them end" \
    "dtr alloc list --json $DT | grep -q '\"pending\":0,\"running\":0'" 10 &&
    pass "alloc list: $(dtr alloc list --json $DT)"
grep -h 'draining reason=idle-timeout' "$T"/state-M/alloc/logs/*.log >/dev/null &&
    pass "the jobs' workers drained for their idle timeout" ||
    fail "no idle drain in the workers' logs"
# The jobs' workers wrote their stderr (and any sanitizer report) to
# Slurm's output files.
if grep -l -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T"/state-M/alloc/logs/slurm-*.out \
    >/dev/null 2>&1; then
    fail "sanitizer report in a Slurm job's output: $(grep -h -A20 -E 'ERROR: |runtime error:' \
        "$T"/state-M/alloc/logs/slurm-*.out | head -40)"
else
    pass "no sanitizer report in the jobs' output ($(ls "$T"/state-M/alloc/logs/slurm-*.out | wc -l) files)"
fi
dtr alloc remove $DT a1 >/dev/null && [ -z "$(dtr alloc list $DT | tail -n +2)" ] &&
    pass "alloc remove a1" || fail "remove: $(dtr alloc list $DT)"

# --workers-per-job 2: one Slurm job of two tasks (sbatch --ntasks=2), a
# worker in each (srun), each offering its task's one CPU. Every task waits
# for a gate, so both workers hold one before any ends.
dtr alloc add slurm --max-workers 2 --workers-per-job 2 --idle-timeout 3s --time-limit 10m $DT \
    -- --cpus-per-task=1 >add2.out 2>&1 || die "alloc add a2 failed: $(cat add2.out)"
[ "$(cat add2.out)" = a2 ] && pass "alloc add --workers-per-job 2 made queue a2" ||
    fail "alloc add printed '$(cat add2.out)'"
dtr submit $DT --id p --array 1-20 --retries 0 -- sh -c \
    "while [ ! -e '$T/gate2' ]; do sleep 0.05; done; echo \"job=\$SLURM_JOB_ID proc=\$SLURM_PROCID\"" \
    >/dev/null || die "submit failed"
wait_for "two workers of one a2 job, each running a task" \
    "[ \$(dtr status $DT --json | grep -o '\"id\":\"alloc-a2-[0-9]*-[01]\",[^}]*\"running\":1' | wc -l) -eq 2 ]" \
    40 || { dtr status $DT; finish; }
# (the master sees the job running at its next squeue, every 2s)
wait_for "dtr status to show a2's job running with its 2 workers" \
    "dtr status $DT | grep -Eq '^a2 +slurm +0 +1 +2 '" 10 &&
    pass "dtr status: $(dtr status $DT | grep '^a2 ')"
touch "$T/gate2"
dtr wait $DT --job "$(dtr result $DT --json p-1 | sed -n 's/.*"job":"\([^"]*\)".*/\1/p')" --timeout 60s \
    >wait2.out 2>&1 && pass "all 20 tasks of a2 succeeded" || fail "wait: $(tail -n 2 wait2.out)"
for i in $(seq 1 20); do dtr result $DT "p-$i" 2>/dev/null; done | sort | uniq -c >by-proc
[ "$(wc -l <by-proc)" -eq 2 ] && [ "$(sed 's/.*job=\([0-9]*\).*/\1/' by-proc | sort -u | wc -l)" -eq 1 ] &&
    pass "the tasks ran in one Slurm job, on its two Slurm tasks: $(tr -s ' \n' ' ' <by-proc)" ||
    fail "tasks by job and proc: $(tr -s ' \n' ' ' <by-proc)"
[ "$(grep -c 'alloc: job submitted queue=a2' "$T/logs/master.log")" -eq 1 ] &&
    pass "one Slurm job for two workers (max 2)" || fail "a2 jobs: $(grep 'queue=a2' "$T/logs/master.log")"
wait_for "a2's job to end once both workers idled out" "[ -z \"\$(squeue -h)\" ]" 30 &&
    pass "a2's job ended by itself"
dtr alloc remove $DT a2 >/dev/null || fail "remove a2"

# TLS with the token: the master restarts with --tls-*; the jobs' workers
# present copies of its certificate and key (STATE_DIR/alloc, mode 0600),
# and read the token from a file: neither is on a command line.
command -v openssl >/dev/null || die "the openssl command is needed (Debian package openssl)"
mkdir -p "$T/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=ca" \
    -keyout "$T/tls/ca.key" -out "$T/tls/ca.pem" 2>>"$T/tls/openssl.log" || die "openssl ca"
for n in master client; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$n" \
        -keyout "$T/tls/$n.key" -out "$T/tls/$n.csr" 2>>"$T/tls/openssl.log" &&
        openssl x509 -req -in "$T/tls/$n.csr" -CA "$T/tls/ca.pem" -CAkey "$T/tls/ca.key" \
            -CAcreateserial -days 30 -out "$T/tls/$n.pem" 2>>"$T/tls/openssl.log" || die "openssl $n"
done
kill -TERM "$M2_PID"
wait "$M2_PID"
start_master M3 --token-file "$T/token" --host 127.0.0.1 --state-dir "$T/state-M" \
    --tls-ca "$T/tls/ca.pem" --tls-cert "$T/tls/master.pem" --tls-key "$T/tls/master.key"
DT="--token-file $T/token --tls-ca $T/tls/ca.pem --tls-cert $T/tls/client.pem --tls-key $T/tls/client.key"
dtr alloc add slurm --max-workers 1 --idle-timeout 3s --time-limit 10m $DT -- --cpus-per-task=1 \
    >add3.out 2>&1 || die "alloc add: $(cat add3.out)"
Q3=$(cat add3.out)
[ "$Q3" = a3 ] && pass "the next queue is a3 (a removed queue's id is not given again)" ||
    fail "alloc add after a restart printed '$Q3'"
dtr submit $DT --id s --array 1-10 --retries 0 -- sh -c 'echo "job=$SLURM_JOB_ID"' >/dev/null ||
    die "submit over TLS failed"
dtr wait $DT --all --timeout 60s >wait3.out 2>&1 &&
    pass "10 tasks succeeded on a worker that dialled the TLS master from a Slurm job" ||
    fail "wait: $(tail -n 2 wait3.out); $(grep -h 'TLS\|auth' "$T"/state-M/alloc/logs/*"$Q3"*.log | tail -3)"
n=0
for i in $(seq 1 10); do
    dtr result $DT "s-$i" 2>/dev/null | grep -q '^job=[0-9]' &&
        dtr result $DT --json "s-$i" | grep -q "\"worker\":\"alloc-$Q3-" && n=$((n + 1))
done
[ "$n" -eq 10 ] && pass "every s- task ran in a Slurm job, on a worker of $Q3" ||
    fail "$((10 - n)) s- tasks ran elsewhere"
A=$T/state-M/alloc
modes=$(stat -c '%a' "$A/tls-cert.pem" "$A/tls-key.pem" "$A/tls-ca.pem" "$A/token" | sort -u)
[ "$modes" = 600 ] && pass "the token and TLS copies in STATE_DIR/alloc are 0600" ||
    fail "modes: $(stat -c '%n %a' "$A"/tls-*.pem "$A/token")"
cmp -s "$A/tls-key.pem" "$T/tls/master.key" && pass "the workers' key is the master's" ||
    fail "tls-key.pem differs from master.key"
grep -q -- "--tls-ca '$A/tls-ca.pem'" "$A/$Q3.sh" && ! grep -q -e "$(cat "$T/token")" -e 'PRIVATE' "$A/$Q3.sh" &&
    pass "the job script names the files, holds neither token nor key" || fail "$Q3.sh: $(cat "$A/$Q3.sh")"
grep -q 'TLS handshake failed' "$T/logs/master.log" && fail "TLS refusals: $(grep 'TLS handshake' "$T/logs/master.log" | tail -2)"
wait_for "$Q3's job to end (idle timeout)" "[ -z \"\$(squeue -h)\" ]" 30 && pass "$Q3's job ended by itself"
dtr alloc remove $DT "$Q3" >/dev/null || fail "remove $Q3"

echo "--- Slurm jobs: submitted and ended (master logs)"
grep -h 'alloc: job' "$T"/logs/master.log | sed 's/^.*alloc: /  /'
finish
