#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""N dashboards' worth of HTTP load on a master, for `sh bench/run.sh http`
(issue 14: "the scheduler's noop figure with 10 dashboards attached and
scraping every second"). Each dashboard holds GET /api/v1/events?coalesce=1
open and reads every event, as the page does, and once a second fetches
/metrics and /api/v1/status, as a Prometheus scrape and the page's refresh
do. DASHBOARDS_COALESCE=0 reads every task event one by one instead.

usage: /usr/bin/python3 bench/dashboards.py URL N [TOKEN]

Runs until SIGTERM or SIGINT, then prints one line:
  dashboards=N polls=P poll_failed=F poll_max_ms=M event_bytes=B
Standard library only (Debian's /usr/bin/python3)."""
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
import urllib.request

URL, N = sys.argv[1], int(sys.argv[2])
TOKEN = sys.argv[3] if len(sys.argv) > 3 else None
COALESCE = os.environ.get("DASHBOARDS_COALESCE", "1")
u = urllib.parse.urlparse(URL)
stop = threading.Event()
lock = threading.Lock()
st = {"polls": 0, "failed": 0, "max_ms": 0.0, "event_bytes": 0}


def add(k, v):
    with lock:
        st[k] = max(st[k], v) if k == "max_ms" else st[k] + v


def stream():
    """Holds the event stream open and reads it all (reconnects if cut)."""
    auth = "Authorization: Bearer %s\r\n" % TOKEN if TOKEN else ""
    while not stop.is_set():
        try:
            s = socket.create_connection((u.hostname, u.port), timeout=1)
            s.sendall(("GET /api/v1/events?coalesce=%s HTTP/1.1\r\nHost: %s\r\n%sAccept: text/event-stream\r\n"
                       "Last-Event-ID: 0\r\n\r\n" % (COALESCE, u.netloc, auth)).encode())
            while not stop.is_set():
                try:
                    b = s.recv(65536)
                except socket.timeout:
                    continue
                if not b:
                    break
                add("event_bytes", len(b))
            s.close()
        except OSError:
            time.sleep(0.2)


def poll(offset):
    """/metrics and /api/v1/status once a second, this dashboard's turn
    offset within the second so the N do not all come at once."""
    hdr = {"Authorization": "Bearer " + TOKEN} if TOKEN else {}
    nxt = time.monotonic() + offset
    while not stop.wait(max(0.0, nxt - time.monotonic())):
        nxt += 1.0
        for path in ("metrics", "api/v1/status"):
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(urllib.request.Request(URL + path, headers=hdr),
                                            timeout=10) as r:
                    r.read()
                add("polls", 1)
            except OSError:
                add("failed", 1)
            add("max_ms", (time.monotonic() - t0) * 1000)


signal.signal(signal.SIGTERM, lambda *_: stop.set())
signal.signal(signal.SIGINT, lambda *_: stop.set())
threads = []
for i in range(N):
    for fn, args in ((stream, ()), (poll, (i / max(N, 1),))):
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        threads.append(t)
while not stop.wait(0.5):
    pass
for t in threads:
    t.join(timeout=2)
print("dashboards=%d polls=%d poll_failed=%d poll_max_ms=%.1f event_bytes=%d" %
      (N, st["polls"], st["failed"], st["max_ms"], st["event_bytes"]), flush=True)
