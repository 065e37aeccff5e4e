#!/usr/bin/env python3
"""Cluster join and failover times (issue 15): JOINS player joins on the origin and on edges,
then KILLS SIGKILLs of the origin, one measurement each.

    scripts/bench-failover.py [OUT_DIR]     (default /tmp/bench-failover; writes OUT_DIR/run-<UTC>/)

Setup, all on loopback: one etcd, origin candidates A and B, edges C and D. An encoder
(ffmpeg, -re, the test file looped, 1 s GOP) publishes live/f to A; one SRT player
(srt-live-transmit) plays it on C, for the whole run.

Joins (time from starting a player to its first byte, srt-live-transmit's start and the SRT
handshake included), JOINS of each, one at a time:
  origin : a player on A, the publisher's node;
  warm   : a player on C, which pulls live/f already (for the resident player);
  cold   : a player on D (edge_idle_ms = 0), which has no pull when the player arrives: the
           owner from the directory's last read (every 250 ms), then the pull's handshake.
Then the kills. Each round:

  1. SIGKILL the current origin (t0) and its encoder;
  2. the encoder reconnects to the other candidate every RETRY_MS (as an encoder behind DNS
     round robin does), refused with 1409 while the dead node's claim lives;
  3. measured: `claim`  t0 -> the directory (etcd) names the new owner (it admitted the
                        encoder and claimed the stream),
               `resume` t0 -> C's player receives bytes again (C saw the new owner, pulled it);
     the player must never reconnect (its process stays up through every round);
  4. the killed node restarts as the standby.

Knobs (environment): JOINS=20 KILLS=20 LEASE_MS=2000 RETRY_MS=200 RELAY (default target/release/srtrelay).
Prints p50 / p90 / max of each column and writes every round to rounds.csv.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KILLS = int(os.environ.get("KILLS", "20"))
JOINS = int(os.environ.get("JOINS", "20"))
LEASE_MS = int(os.environ.get("LEASE_MS", "2000"))
RETRY = int(os.environ.get("RETRY_MS", "200")) / 1000
RELAY = os.environ.get("RELAY", os.path.join(ROOT, "target/release/srtrelay"))
ETCD = "http://127.0.0.1:23792"
PREFIX = f"/bench-failover-{os.getpid()}"
PORTS = {"a": 19901, "b": 19902, "c": 19903, "d": 19904}
D_HTTP = 19914
STREAM = "live/f"
DEADLINE = 60.0

out = os.path.realpath(sys.argv[1] if len(sys.argv) > 1 else "/tmp/bench-failover")
out = os.path.join(out, "run-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
os.makedirs(out)
work = tempfile.mkdtemp(prefix="bench-failover.")
procs = []


def spawn(args, log, **kw):
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kw)
    procs.append(p)
    return p


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.kill()
    shutil.rmtree(work, ignore_errors=True)


def until(what, cond, deadline=DEADLINE, every=0.01):
    end = time.monotonic() + deadline
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(every)


def owner():
    key = base64.b64encode(f"{PREFIX}/streams/{STREAM}".encode()).decode()
    req = urllib.request.Request(f"{ETCD}/v3/kv/range", data=json.dumps({"key": key}).encode())
    try:
        with urllib.request.urlopen(req, timeout=1) as r:
            kvs = json.load(r).get("kvs") or []
    except OSError:
        return None
    return json.loads(base64.b64decode(kvs[0]["value"]))["node"] if kvs else None


def relay(name):
    path = os.path.join(work, f"{name}.toml")
    http = f'listen = "127.0.0.1:{D_HTTP}"' if name == "d" else "enabled = false"
    idle = 0 if name == "d" else 60000
    with open(path, "w") as f:
        f.write(f"""[srt]
listen = ["127.0.0.1:{PORTS[name]}"]
peer_idle_timeout_ms = 2000
[http]
{http}
[playback]
enabled = false
[rtmp]
enabled = false
[streams]
publisher_grace_ms = 30000
unknown_stream_wait_ms = 30000
[cluster]
enabled = true
node_id = "{name}"
advertise = "127.0.0.1:{PORTS[name]}"
etcd = ["{ETCD}"]
prefix = "{PREFIX}"
lease_ttl_ms = {LEASE_MS}
edge_idle_ms = {idle}
""")
    log = open(os.path.join(out, f"{name}.log"), "a")
    return spawn([RELAY, "--config", path], log)


def encoder(name, media):
    url = f"srt://127.0.0.1:{PORTS[name]}?streamid=#!::r={STREAM},m=publish&latency=120000"
    log = open(os.path.join(out, "encoder.log"), "a")
    return spawn(["ffmpeg", "-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i", media,
                  "-c", "copy", "-f", "mpegts", url], log)


def join_time(name):
    """Seconds from starting a player on `name` to its first byte."""
    got = os.path.join(work, f"join-{name}.ts")
    url = f"srt://127.0.0.1:{PORTS[name]}?streamid=#!::r={STREAM},m=request&latency=120"
    t0 = time.monotonic()
    p = subprocess.Popen(["srt-live-transmit", "-a", "no", url, "file://con"],
                         stdout=open(got, "wb"), stdin=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    procs.append(p)
    until(f"a first byte on {name}", lambda: size(got) > 0, every=0.002)
    t = time.monotonic() - t0
    p.kill()
    p.wait()
    return t


def d_pulls():
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{D_HTTP}/v1/cluster", timeout=1) as r:
            return json.load(r).get("pulls") or {}
    except OSError:
        return {"?": "no answer"}


def joins(played):
    if not JOINS:
        return
    times = {"origin": [], "warm": [], "cold": []}
    for _ in range(JOINS):
        times["origin"].append(join_time("a"))
        times["warm"].append(join_time("c"))
        until("d has no pull", lambda: not d_pulls())
        times["cold"].append(join_time("d"))
    lines = [f"joins, {JOINS} each: time to the first byte",
             f"{'':<8} {'p50 ms':>7} {'p90 ms':>7} {'max ms':>7} {'min ms':>7}"]
    for k, v in times.items():
        lines.append(f"{k:<8} {pct(v, .5) * 1e3:>7.0f} {pct(v, .9) * 1e3:>7.0f}"
                     f" {max(v) * 1e3:>7.0f} {min(v) * 1e3:>7.0f}")
    text = "\n".join(lines)
    print(text, flush=True)
    with open(os.path.join(out, "joins.txt"), "w") as f:
        f.write(text + "\n")


def size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def main():
    media = os.path.join(work, "in.ts")
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440",
                    "-t", "20", "-c:v", "libx264", "-preset", "ultrafast", "-g", "30",
                    "-b:v", "1500k", "-c:a", "aac", "-f", "mpegts", media], check=True)
    spawn(["etcd", "--name", "f", "--data-dir", os.path.join(work, "etcd"), "--log-level", "warn",
           "--listen-client-urls", ETCD, "--advertise-client-urls", ETCD,
           "--listen-peer-urls", "http://127.0.0.1:23802",
           "--initial-advertise-peer-urls", "http://127.0.0.1:23802",
           "--initial-cluster", "f=http://127.0.0.1:23802"],
          open(os.path.join(out, "etcd.log"), "w"))
    until("etcd", lambda: owner() is None and _etcd_up())
    nodes = {n: relay(n) for n in "abcd"}
    time.sleep(1)
    origin, standby = "a", "b"
    enc = encoder(origin, media)
    until("a claims the stream", lambda: owner() == "a")
    played = os.path.join(work, "player.ts")
    url = f"srt://127.0.0.1:{PORTS['c']}?streamid=#!::r={STREAM},m=request&latency=120"
    player = subprocess.Popen(["srt-live-transmit", "-a", "no", url, "file://con"],
                              stdout=open(played, "wb"), stdin=subprocess.DEVNULL,
                              stderr=open(os.path.join(out, "player.log"), "w"))
    procs.append(player)
    until("c's player plays", lambda: size(played) > 500_000)
    joins(played)
    rows = []
    if not KILLS:
        return
    for k in range(1, KILLS + 1):
        # Steady: the player has been receiving for a while.
        s = size(played)
        until("steady play", lambda: size(played) > s + 200_000)
        nodes[origin].kill()
        t0 = time.monotonic()
        enc.kill()
        nodes[origin].wait()
        enc.wait()
        at_kill = size(played)
        claim = resume = None
        enc = encoder(standby, media)
        started = time.monotonic()
        end = t0 + DEADLINE
        while resume is None or claim is None:
            now = time.monotonic()
            if now > end:
                raise SystemExit(f"round {k}: no failover within {DEADLINE} s")
            if claim is None and owner() == standby:
                claim = now - t0
            if resume is None and size(played) > at_kill + 20_000:
                resume = now - t0
            if enc.poll() is not None and now - started >= RETRY:
                # Refused (1409) while the dead node's claim lives: retry, as an encoder would.
                enc = encoder(standby, media)
                started = time.monotonic()
            if player.poll() is not None:
                raise SystemExit(f"round {k}: the player on c disconnected")
            time.sleep(0.005)
        nodes[origin] = relay(origin)
        rows.append((k, origin, standby, claim, resume))
        print(f"kill {k:>2}: {origin} -> {standby}  claim {claim:.2f} s  resume {resume:.2f} s",
              flush=True)
        origin, standby = standby, origin
        time.sleep(1)
    with open(os.path.join(out, "rounds.csv"), "w") as f:
        f.write("kill,killed,new_owner,claim_s,resume_s\n")
        for r in rows:
            f.write(f"{r[0]},{r[1]},{r[2]},{r[3]:.3f},{r[4]:.3f}\n")
    summary = [f"{KILLS} kills, lease_ttl_ms = {LEASE_MS}, encoder retry every {RETRY * 1000:.0f} ms,"
               f" player never reconnected: {player.poll() is None}"]
    summary.append(f"{'':<8} {'p50 s':>7} {'p90 s':>7} {'max s':>7} {'min s':>7}")
    for name, i in (("claim", 3), ("resume", 4)):
        v = [r[i] for r in rows]
        summary.append(f"{name:<8} {pct(v, .5):>7.2f} {pct(v, .9):>7.2f} {max(v):>7.2f} {min(v):>7.2f}")
    text = "\n".join(summary)
    print(text)
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write(text + "\n")
    print(f"runs and logs in {out}")


def _etcd_up():
    req = urllib.request.Request(f"{ETCD}/v3/kv/range", data=b'{"key":"AA=="}')
    try:
        urllib.request.urlopen(req, timeout=1).read()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        main()
    finally:
        cleanup()
