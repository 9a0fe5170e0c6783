#!/usr/bin/env python3
"""REST CalculateImageHash end to end (submit + poll every 10 ms) against `imghash sum -a md5`
on a 2 GiB random file in page cache; three runs each, medians.

Usage, with a server started as
  imghash serve --listen 127.0.0.1:0 --rest-listen 127.0.0.1:18080 --data-dir DATA --admin-password bench
run: scripts/bench-rest.py PATH/TO/imghash DATA [POLL_SECONDS]
The poll interval (default 0.01 s) bounds what polling adds; `hash.seconds` is the server's own
time. On a machine with few cores the client's and server's work for frequent polls competes
with the hash itself: compare 0.01 with ZStack-like intervals (0.2, 1).
"""
import json, os, subprocess, sys, time, urllib.request, hashlib, statistics
BIN = sys.argv[1]; DATA = sys.argv[2]; POLL = float(sys.argv[3]) if len(sys.argv) > 3 else 0.01; BASE = "http://127.0.0.1:18080/zstack/v1"
def call(method, path, body=None, headers={}):
    req = urllib.request.Request(BASE + path if path.startswith("/") else path, method=method,
        data=json.dumps(body).encode() if body is not None else None, headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req) as r: return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e: return e.code, e.read()
def poll(loc, interval):
    while True:
        st, body = call("GET", loc)
        if st != 202: return st, body
        time.sleep(interval)
st, s = call("PUT", "/accounts/login", {"logInByAccount": {"accountName": "admin", "password": "bench"}})
auth = {"Authorization": "OAuth " + s["inventory"]["uuid"]}
st, q = call("GET", "/backup-storage?q=name=default", headers=auth)
bs = q["inventories"][0]; path = os.path.join(bs["url"], "bench.raw")
if not os.path.exists(path):
    subprocess.run(["head", "-c", str(2 << 30), "/dev/urandom"], stdout=open(path, "wb"), check=True)
st, j = call("POST", "/images", {"params": {"name": "bench", "format": "raw", "url": "file://" + path, "backupStorageUuids": [bs["uuid"]]}}, auth)
st, img = poll(j["location"], 0.05); uuid = img["inventory"]["uuid"]
subprocess.run(["cat", path], stdout=subprocess.DEVNULL)
rest, cli, inner = [], [], []
for i in range(3):
    t = time.perf_counter()
    subprocess.run([BIN, "sum", "-a", "md5", path], stdout=subprocess.DEVNULL, check=True)
    cli.append(time.perf_counter() - t)
    t = time.perf_counter()
    st, j = call("PUT", f"/images/{uuid}/actions", {"calculateImageHash": {"backupStorageUuid": bs["uuid"], "algorithm": "MD5"}}, auth)
    st, r = poll(j["location"], POLL)
    rest.append(time.perf_counter() - t); inner.append(r["hash"]["seconds"])
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"CPU: {cpu}, {os.cpu_count()} cores; load: {open('/proc/loadavg').read().split()[:3]}; poll every {POLL} s")
print("cli  sum -a md5 s:", [round(x, 3) for x in cli], "median", round(statistics.median(cli), 3))
print("rest submit+poll s:", [round(x, 3) for x in rest], "median", round(statistics.median(rest), 3))
print("rest hash.seconds:", [round(x, 3) for x in inner])
print("ratio rest/cli (medians):", round(statistics.median(rest) / statistics.median(cli), 3))
