#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The dashboard under load (docs/http.md "Dashboard", figures there): a
master and 2 workers x 500 slots on loopback, the page open in headless
Chromium, 100,000 noops posted at once. Prints how far behind the master the
page's count is, the browser's long tasks (>50 ms) meanwhile, its JS heap,
the cost of rendering 1,000 workers, and finding the last task by id.
usage: /usr/bin/python3 bench/dashboard_load.py [build/dtr]"""
import json, os, shutil, signal, subprocess, sys, tempfile, time, urllib.request
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
D = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "build", "dtr")
T = tempfile.mkdtemp()
m = subprocess.Popen([D, "master", "--port", "32100", "--http", "127.0.0.1:0", "--state-dir", T + "/st", "--log-dir", T], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
url = None
for line in m.stdout:
    if "http on" in line:
        url = line.split()[-1]; break
ws = [subprocess.Popen([D, "worker", "--id", "w%d" % i, "--master", "127.0.0.1:32100", "--slots", "500", "--port-range", "32200-32300", "--log-dir", T], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(2)]
time.sleep(1)
prof = tempfile.mkdtemp()
o = webdriver.ChromeOptions()
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--user-data-dir=" + prof, "--window-size=1280,1500", "--disable-crash-reporter", "--enable-precise-memory-info"):
    o.add_argument(a)
svc = Service(executable_path="/usr/bin/chromedriver")
d = webdriver.Chrome(service=svc, options=o)
try:
    d.get(url)
    time.sleep(2)
    d.execute_script("""window.__lt=[];new PerformanceObserver(l=>{for(const e of l.getEntries())window.__lt.push(e.duration)}).observe({entryTypes:['longtask']});""")
    N = 100000
    t0 = time.time()
    req = urllib.request.Request(url + "api/v1/tasks", data=json.dumps([{"kind": "noop"} for _ in range(N)]).encode(), method="POST")
    urllib.request.urlopen(req, timeout=120).read()
    t1 = time.time()
    while True:
        st = json.loads(urllib.request.urlopen(url + "api/v1/status").read())
        if st["tasks"]["succeeded"] >= N: break
        time.sleep(0.2)
    t2 = time.time()
    while int(d.find_element(By.CSS_SELECTOR, "#count-succeeded b").text) < N:
        time.sleep(0.1)
    t3 = time.time()
    lt = d.execute_script("return window.__lt")
    heap = d.execute_script("return performance.memory ? performance.memory.usedJSHeapSize : -1")
    rows = d.execute_script("return document.querySelectorAll('#tasks tr').length")
    print("submit %.2fs, master done %.2fs after, page count caught up %.2fs after master" % (t1 - t0, t2 - t1, t3 - t2))
    print("long tasks (>50ms) during the run: %d, max %.0f ms, total %.0f ms" % (len(lt), max(lt or [0]), sum(lt)))
    print("JS heap %.1f MB, rows %d" % (heap / 1e6, rows))
    t4 = time.time(); d.find_element(By.ID, "next").click(); time.sleep(0.05)
    d.find_element(By.ID, "find-id").send_keys("t-99999"); d.find_element(By.CSS_SELECTOR, "#find button[type=submit]").click()
    while "t-99999" not in d.find_element(By.ID, "detail-id").text: time.sleep(0.02)
    w = d.execute_script("""const ws=[];for(let i=0;i<1000;i++)ws.push({id:'w'+i,addr:'10.0.0.'+(i%250)+':5000',slots:8,running:i%8,draining:i%97==0,last_seen_ms:Date.now()-i,used:{cpus:i%8,mem:0}});
const t0=performance.now();for(let k=0;k<10;k++)renderWorkers(ws);return (performance.now()-t0)/10;""")
    print("renderWorkers(1000 workers): %.1f ms each" % w)
    print("find t-99999: %.2fs" % (time.time() - t4))
finally:
    d.quit()
    for w in ws: w.kill(); w.wait()
    m.kill(); m.wait()
    shutil.rmtree(prof, ignore_errors=True); shutil.rmtree(T, ignore_errors=True)
