# SPDX-License-Identifier: MIT
"""client.events(): the master's event stream, filtered by job, resumed
after a dropped connection from the last event id seen."""
import socket

import pytest

import dtr
from dtr import client as dclient


def _take(gen, n, want=lambda e: True):
    out = []
    for e in gen:
        if want(e):
            out.append(e)
        if len(out) == n:
            return out


def test_submit_start_succeed_in_order(client):
    gen = client.events()
    t = client.submit(["true"], id="ev-1")
    evs = _take(gen, 3, lambda e: e.get("task") == "ev-1")
    assert [e["event"] for e in evs] == ["submitted", "started", "succeeded"]
    assert evs[1]["worker"] == "w1" and evs[0]["job"] == t.job
    ids = [e["id"] for e in evs]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert all(isinstance(e["at_ms"], int) and e["at"].endswith("Z") for e in evs)
    gen.close()
    # since: the stream starts again after an id the master still keeps
    again = _take(client.events(since=ids[0]), 2)
    assert [e["id"] for e in again] == [ids[0] + 1, ids[0] + 2]


def test_job_filter(client):
    a = client.submit_many([{"argv": ["true"]}] * 3, job_name="ev-a")
    a_ids = {t.id for t in a}
    gen = client.events(job="ev-b", since=1)
    b = client.submit_many([{"argv": ["false"], "retries": 0}] * 2, job_name="ev-b")
    evs = _take(gen, 4)
    assert {e["job"] for e in evs} == {"ev-b"}
    assert not a_ids & {e["task"] for e in evs}
    got = {(e["task"], e["event"]) for e in evs}
    assert {(t.id, "submitted") for t in b} <= got
    gen.close()


def test_bad_arguments(client):
    with pytest.raises(ValueError):
        client.events(since=0)
    with pytest.raises(ValueError):
        client.events(job="has space")


def test_resumes_after_a_dropped_connection(client, monkeypatch):
    """The stream's connection is cut under it: the generator redials and
    goes on after the last id it yielded, nothing missed, nothing twice."""
    conns = []
    real = dclient.Client._dial

    def dial(self):
        c = real(self)
        conns.append(c)
        return c
    monkeypatch.setattr(dclient.Client, "_dial", dial)
    gen = client.events()
    first = client.submit_many([{"argv": ["true"]}] * 5)
    seen = _take(gen, 4)
    stream = [c for c in conns if c is not client._conn][-1]
    stream.sock.shutdown(socket.SHUT_RDWR)
    more = client.submit_many([{"argv": ["true"]}] * 5)
    dtr.wait(first + more, timeout=60)
    want = {t.id for t in more}
    rest = []
    for e in gen:
        rest.append(e)
        if {x["task"] for x in rest if x["event"] == "succeeded"} >= want:
            break
    ids = [e["id"] for e in seen + rest]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # no gap, no repeat
    assert len([c for c in conns if c is not client._conn]) >= 2  # it did redial
    gen.close()
