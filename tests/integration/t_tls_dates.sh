#!/usr/bin/env bash
# A certificate refused for its dates is described as such: expired or not
# yet valid, with the clock or a renewal to check, never "is it signed by
# the CA of --tls-ca?", which sent people after the wrong problem. Both
# sides are checked: the one that verifies (the master's log, or the
# client's stderr when the master's certificate is bad) and the one told by
# the TLS alert. A certificate from another CA still gets the CA hint.
. "$(dirname "$0")/lib.sh"

command -v openssl >/dev/null || die "the openssl command is needed (Debian package openssl)"

# A CA, then certificates with chosen dates through `openssl ca`
# (-startdate/-enddate; `openssl x509 -days` cannot start in the future).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=ca" \
    -keyout ca.key -out ca.pem 2>>openssl.log &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -subj "/CN=otherca" -keyout otherca.key -out otherca.pem 2>>openssl.log ||
    die "openssl could not make the CAs: $(tail -n 5 openssl.log)"
cat >ca.cnf <<'EOF_CNF'
[ ca ]
default_ca = d
[ d ]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = p
unique_subject = no
[ p ]
commonName = supplied
EOF_CNF
: >index.txt
echo 1000 >serial
make_cert() { # NAME STARTDATE ENDDATE
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
        -keyout "$1.key" -out "$1.csr" 2>>openssl.log &&
        openssl ca -batch -notext -config ca.cnf -cert ca.pem -keyfile ca.key -in "$1.csr" \
            -out "$1.pem" -startdate "$2" -enddate "$3" >>openssl.log 2>&1
}
NOW_LO=$(date -u -d '-1 hour' +%Y%m%d%H%M%SZ)
NOW_HI=$(date -u -d '+20 days' +%Y%m%d%H%M%SZ)
make_cert master "$NOW_LO" "$NOW_HI" && make_cert client "$NOW_LO" "$NOW_HI" &&
    make_cert expired 20200101000000Z 20200201000000Z &&
    make_cert future 20990101000000Z 21000101000000Z &&
    make_cert master-expired 20200101000000Z 20200201000000Z &&
    make_cert master-future 20990101000000Z 21000101000000Z ||
    die "openssl could not make the certificates: $(tail -n 5 openssl.log)"
openssl verify -CAfile ca.pem expired.pem 2>&1 | grep -q "expired" &&
    openssl verify -CAfile ca.pem future.pem 2>&1 | grep -q "not yet valid" ||
    die "the certificates do not have the dates meant: $(openssl verify -CAfile ca.pem expired.pem future.pem 2>&1)"

flags() { echo "--tls-ca=$T/${2:-ca}.pem --tls-cert=$T/$1.pem --tls-key=$T/$1.key"; }
# shellcheck disable=SC2046 # flags are several words; $T has no spaces
start_master M $(flags master)
mlog=$T/logs/master.log

# client NAME CERT [CA]: `dtr status` with that certificate; sets RC, ERR.
client() {
    # shellcheck disable=SC2046
    "$DTR" status --master "$2" $(flags "$1" "${3:-ca}") >"$T/c-$1.out" 2>"$T/c-$1.err"
    RC=$?
    ERR=$(cat "$T/c-$1.err")
}
# no_ca_hint TEXT: TEXT does not ask whether the CA signed the certificate.
no_ca_hint() { ! grep -qF "signed by the CA" <<<"$1"; }

# ---- the master verifies a client certificate that has expired
n0=$(grep -c 'TLS handshake failed' "$mlog")
client expired "$M_ADDR"
[ "$RC" -eq 3 ] && grep -qF "certificate expired" <<<"$ERR" && grep -qF "renew it" <<<"$ERR" &&
    no_ca_hint "$ERR" && pass "client with an expired certificate: exit 3: $ERR" ||
    fail "client with an expired certificate: exit $RC: $ERR"
wait_for "the master to log the expired certificate" \
    "[ \$(grep -c 'TLS handshake failed' '$mlog') -gt $n0 ]" 10
line=$(grep 'TLS handshake failed' "$mlog" | tail -n 1)
grep -qF "certificate has expired" <<<"$line" && grep -qF "renew it, or check this machine's clock" <<<"$line" &&
    no_ca_hint "$line" && pass "master log: ${line#* ERROR }" ||
    fail "master log for the expired client certificate: $line"

# ---- ... and one not valid yet
n0=$(grep -c 'TLS handshake failed' "$mlog")
client future "$M_ADDR"
[ "$RC" -eq 3 ] && grep -qF "within its dates" <<<"$ERR" &&
    pass "client with a certificate not valid yet: exit 3: $ERR" ||
    fail "client with a certificate not valid yet: exit $RC: $ERR"
wait_for "the master to log the certificate not valid yet" \
    "[ \$(grep -c 'TLS handshake failed' '$mlog') -gt $n0 ]" 10
line=$(grep 'TLS handshake failed' "$mlog" | tail -n 1)
grep -qF "certificate is not yet valid" <<<"$line" && grep -qF "check the clocks" <<<"$line" &&
    no_ca_hint "$line" && pass "master log: ${line#* ERROR }" ||
    fail "master log for the client certificate not valid yet: $line"

# ---- the client verifies a master certificate that has expired / is not valid yet
# shellcheck disable=SC2046
start_master E $(flags master-expired)
client client "$E_ADDR"
[ "$RC" -eq 3 ] && grep -qF "the peer's certificate was refused: certificate has expired" <<<"$ERR" &&
    grep -qF "renew it, or check this machine's clock" <<<"$ERR" && no_ca_hint "$ERR" &&
    pass "master with an expired certificate: client exit 3: $ERR" ||
    fail "master with an expired certificate: client exit $RC: $ERR"
# shellcheck disable=SC2046
start_master F $(flags master-future)
client client "$F_ADDR"
[ "$RC" -eq 3 ] && grep -qF "the peer's certificate was refused: certificate is not yet valid" <<<"$ERR" &&
    grep -qF "check the clocks of both machines" <<<"$ERR" && no_ca_hint "$ERR" &&
    pass "master with a certificate not valid yet: client exit 3: $ERR" ||
    fail "master with a certificate not valid yet: client exit $RC: $ERR"

# ---- a wrong CA still gets the CA hint
client client "$M_ADDR" otherca
[ "$RC" -eq 3 ] && grep -qF "(is it signed by the CA of --tls-ca?)" <<<"$ERR" &&
    pass "client that trusts another CA: exit 3: $ERR" ||
    fail "client that trusts another CA: exit $RC: $ERR"
finish
