#!/usr/bin/env bash
# The dashboard (GET /) in a real browser: headless Chromium driven by
# dashboard.py against a master with a token and one worker. Skipped (exit
# 77) only when Chromium or chromedriver cannot be found. The screenshot goes
# to the build dir (dashboard.png beside the dtr binary).
. "$(dirname "$0")/lib.sh"

printf 'dash-token\n' >token
start_master M --token-file "$T/token"
start_worker W1 --master "$M_ADDR" --slots 4 --token-file "$T/token"
U=$(cat "$T/state-M/http.addr")
SHOT="$(dirname "$DTR")/dashboard.png"
rm -f "$SHOT"

/usr/bin/python3 "$(dirname "$0")/dashboard.py" "$U" dash-token "$SHOT" "$T/driver.pid" &
PY=$!
PIDS+=("$PY")
wait "$PY"
rc=$?
# the driver (and its browser) must be gone whatever happened to the script
if [ -s "$T/driver.pid" ]; then
    d=$(cat "$T/driver.pid")
    if kill -0 "$d" 2>/dev/null && [ "$(ps -o comm= -p "$d")" = chromedriver ]; then
        kill -9 "$d" 2>/dev/null
        fail "chromedriver $d was still running after the script"
    else
        pass "chromedriver stopped"
    fi
fi
[ "$rc" -eq 77 ] && { echo "t_dashboard: skipped"; exit 77; }
[ "$rc" -eq 0 ] && pass "the dashboard in Chromium" || fail "the browser script failed ($rc)"
[ -s "$SHOT" ] && pass "screenshot $SHOT" || fail "no screenshot at $SHOT"
finish
