#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The dashboard in a real browser (t_dashboard.sh): headless Chromium,
driven by chromedriver through Selenium, against a running master.

usage: dashboard.py URL TOKEN SCREENSHOT PIDFILE

Logs in with the token, sees the counts change as tasks run, finds a task
by id and opens its output, cancels a running task from the task list and
sees it become cancelled, cancels a job from its progress bar and sees its
tasks become cancelled, sees a failure with its stderr, and writes a
screenshot. Every process it starts is stopped: the driver's quit(), then
the driver's process tree killed by PID if anything is left. Exit 77 when
Chromium or chromedriver cannot be found (the test is skipped)."""
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.request

URL, TOKEN, SHOT, PIDFILE = sys.argv[1:5]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver") or (
    "/usr/lib/chromium/chromedriver" if os.path.exists("/usr/lib/chromium/chromedriver") else None)
if not CHROMIUM or not DRIVER:
    print("SKIP: Chromium or chromedriver not found (Debian packages chromium chromium-driver)")
    sys.exit(77)
try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.common.exceptions import (NoSuchElementException,
                                            StaleElementReferenceException)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    print("SKIP: python3-selenium is not installed")
    sys.exit(77)

failed = 0


def ok(what):
    print("ok: " + what, flush=True)


def bad(what):
    global failed
    failed += 1
    print("FAIL: " + what, flush=True)


def api(method, path, body=None):
    req = urllib.request.Request(URL + path.lstrip("/"), method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


def with_profile(profile):
    """The PIDs of the browser processes started with our profile dir (a
    crash handler may have left the driver's tree)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    if profile.encode() in f.read():
                        out.append(int(d))
            except OSError:
                pass
    return out


def descendants(pid):
    """The PIDs of pid's process tree below it, from /proc."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


profile = tempfile.mkdtemp(prefix="dtr-chromium-")
opts = webdriver.ChromeOptions()
opts.binary_location = CHROMIUM
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--user-data-dir=" + profile, "--window-size=1280,1500", "--no-first-run",
          "--disable-crash-reporter", "--disable-breakpad"):
    opts.add_argument(a)
service = Service(executable_path=DRIVER)
driver = None
try:
    driver = webdriver.Chrome(service=service, options=opts)
    with open(PIDFILE, "w") as f:
        f.write("%d\n" % service.process.pid)
    wait = WebDriverWait(driver, 30, poll_frequency=0.1,
                         ignored_exceptions=(StaleElementReferenceException,
                                             NoSuchElementException))
    text = lambda i: driver.find_element(By.ID, i).text

    def until(what, cond):
        try:
            wait.until(lambda d: cond())
            ok(what)
            return True
        except Exception as e:  # timeout: say what was seen
            bad("%s (timed out: %s)" % (what, type(e).__name__))
            return False

    def click(css):
        """Clicks css, again if a re-render replaced it meanwhile."""
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, css).click() or True)

    driver.get(URL)
    until("the page asks for the token", lambda: driver.find_element(By.ID, "login").is_displayed())
    driver.find_element(By.ID, "token").send_keys(TOKEN)
    driver.find_element(By.CSS_SELECTOR, "#login button").click()
    until("the dashboard opens with the token",
          lambda: driver.find_element(By.ID, "main").is_displayed())
    until("the event stream is live", lambda: text("live") == "live")
    until("W1 is in the workers table", lambda: "W1" in text("workers"))
    succeeded = lambda: int(driver.find_element(By.CSS_SELECTOR, "#count-succeeded b").text)
    until("the counts show", lambda: succeeded() >= 0)
    before = succeeded()

    api("POST", "/api/v1/tasks", [{"id": "q%d" % i, "cmd": "echo out-%d" % i} for i in range(1, 6)]
        + [{"id": "long1", "cmd": "sleep 300"},
           {"id": "f1", "argv": ["sh", "-c", "echo boom-on-stderr >&2; exit 4"]}])
    until("the succeeded count rises as tasks run (%d to %d+)" % (before, before + 5),
          lambda: succeeded() >= before + 5)
    until("the failure shows with its stderr",
          lambda: "f1" in text("failures") and "boom-on-stderr" in text("failures"))

    # find by id, open its output
    box = driver.find_element(By.ID, "find-id")
    box.clear()
    box.send_keys("q3")
    driver.find_element(By.CSS_SELECTOR, "#find button[type=submit]").click()
    until("find q3 by id: its record", lambda: '"id": "q3"' in text("detail-record"))
    until("q3's output", lambda: text("detail-stdout") == "out-3")

    # cancel from the task list, see it become cancelled (row and detail)
    driver.find_element(By.ID, "first").click()
    row = "#tasks tr[data-id=long1]"
    until("long1 runs in the task list", lambda: driver.find_element(
        By.CSS_SELECTOR, row + " [data-role=state]").text == "running")
    click(row + " a")
    until("long1 opened", lambda: text("detail-id") == "long1")
    click(row + " [data-role=cancel]")
    until("long1 becomes cancelled in the list", lambda: driver.find_element(
        By.CSS_SELECTOR, row + " [data-role=state]").text == "cancelled")
    until("and in its detail", lambda: text("detail-state") == "cancelled")
    st = api("GET", "/api/v1/tasks/long1")["state"]
    ok("the master agrees: long1 " + st) if st == "cancelled" else bad("long1 is " + st)
    until("the job's progress bar shows", lambda: "j-" in text("jobs"))

    # cancel a whole job from its progress bar, see its tasks become cancelled
    job = api("POST", "/api/v1/tasks", [{"id": "jc%d" % i, "cmd": "sleep 300"}
                                        for i in range(1, 4)])["job"]
    jobrow = "#jobs [data-job='%s']" % job
    until("job %s shows with a cancel button" % job, lambda: driver.find_element(
        By.CSS_SELECTOR, jobrow + " [data-role=cancel-job]").is_displayed())
    box = driver.find_element(By.ID, "filter-job")
    box.clear()
    box.send_keys(job + Keys.TAB)
    jstate = lambda i: driver.find_element(
        By.CSS_SELECTOR, "#tasks tr[data-id=jc%d] [data-role=state]" % i).text
    until("the task list shows the job's tasks running",
          lambda: all(jstate(i) == "running" for i in range(1, 4)))
    click(jobrow + " [data-role=cancel-job]")
    until("the job's tasks become cancelled in the list",
          lambda: all(jstate(i) == "cancelled" for i in range(1, 4)))
    until("the job's bar says it ended, without a cancel button",
          lambda: "3 / 3 ended" in driver.find_element(By.CSS_SELECTOR, jobrow).text
          and not driver.find_elements(By.CSS_SELECTOR, jobrow + " [data-role=cancel-job]"))
    st = [api("GET", "/api/v1/tasks/jc%d" % i)["state"] for i in range(1, 4)]
    ok("the master agrees: job %s's tasks %s" % (job, st)) if st == ["cancelled"] * 3 else bad(
        "job %s's tasks are %s" % (job, st))
    box.clear()
    box.send_keys(Keys.TAB)

    # a busier picture for the screenshot
    api("POST", "/api/v1/tasks", [{"id": "bg%d" % i, "cmd": "sleep 300"} for i in range(1, 3)])
    api("POST", "/api/v1/tasks", [{"kind": "noop"} for _ in range(200)])
    until("the chart draws", lambda: driver.execute_script(
        "return document.getElementById('chart').toDataURL().length") > 1000)
    driver.find_element(By.ID, "first").click()
    click("#tasks tr[data-id=f1] a")
    until("f1 opened for the picture", lambda: "boom-on-stderr" in text("detail-stderr"))
    time.sleep(1.5)  # let the chart and counts settle for the picture (not an assertion)
    driver.save_screenshot(SHOT)
    ok("screenshot written to " + SHOT) if os.path.getsize(SHOT) > 0 else bad("no screenshot")
    # the first status probe before the login is a 401 by design
    logs = [e for e in driver.get_log("browser")
            if e.get("level") == "SEVERE" and "401" not in e.get("message", "")]
    ok("no errors in the browser console") if not logs else bad("console: %s" % logs)
except Exception as e:
    bad("browser session: %s: %s" % (type(e).__name__, e))
finally:
    pid = service.process.pid if service.process else None
    tree = descendants(pid) if pid else []
    try:
        if driver:
            driver.quit()
    except Exception:
        pass
    for p in tree + ([pid] if pid else []):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if pid:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    for _ in range(100):
        left = with_profile(profile)
        if not left:
            break
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    ok("no browser process left") if not with_profile(profile) else bad(
        "browser processes left: %s" % with_profile(profile))
    shutil.rmtree(profile, ignore_errors=True)
sys.exit(1 if failed else 0)
