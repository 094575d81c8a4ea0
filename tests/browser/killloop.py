#!/usr/bin/env python3
"""killloop.py LABELLER DATADIR N — durability of clipsort-label-web under SIGKILL.

Four clients label N distinct images between them, each one POST at a time with its own
submission id, while this script kills the server with SIGKILL at random moments (a timer thread)
and restarts it.  A submission whose answer was lost is resent with the SAME id after
the restart, as the page does.  Afterwards: every acknowledged label is in labels.tsv
exactly once, and no image has more than one line (resends were never duplicated).
Prints a summary line; exit 0 = held."""
import http.client, json, os, random, re, signal, subprocess, sys, threading, time

exe, d, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rnd = random.Random(7)
labels = os.path.join(d, "labels.tsv")


class Server:
    def __init__(self):
        self.p = None
        self.port = None
        self.lock = threading.Lock()
        self.up = 0.0

    def start(self):
        with self.lock:
            self._start()

    def _start(self):
        errpath = os.path.join(d, "kill-srv.err")
        err = open(errpath, "w")
        self.p = subprocess.Popen([exe, "--cache", os.path.join(d, "cache.emb"), "--labels", labels,
                                   "--classes", os.path.join(d, "classes.tsv"), "--root", d,
                                   "--retrain-every", "0", "--port", "0"], stderr=err)
        for _ in range(200):
            with open(errpath) as f:      # its own offset: the child shares err's
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", f.read())
            if m:
                self.port = int(m.group(1))
                self.up = time.time()
                err.close()
                return
            if self.p.poll() is not None:
                raise SystemExit("server exited: " + open(errpath).read())
            time.sleep(0.02)
        raise SystemExit("server did not start")

    def kill(self):
        with self.lock:
            self._kill()

    def _kill(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait()


srv = Server()
srv.start()


def req(method, path, body=None, hdr=None):
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    h = {"Host": "127.0.0.1:%d" % srv.port}
    h.update(hdr or {})
    if body is not None:
        body = json.dumps(body)
        h["Content-Type"] = "application/json"
    c.request(method, path, body, h)
    r = c.getresponse()
    data = r.read()
    cookie = r.getheader("Set-Cookie")
    c.close()
    return r.status, json.loads(data) if data else None, cookie


session = {}


def login():
    st, j, cookie = req("POST", "/api/login", {"name": "killer"})
    session["cookie"] = cookie.split(";")[0]
    session["csrf"] = j["csrf"]


# the keys of every image, in id order
login()
keys = []
for i in range(10 ** 6):
    st, j, _ = req("GET", "/api/item?id=%d" % i, hdr={"Cookie": session["cookie"]})
    if st != 200:
        break
    keys.append(j["key"])
ids = list(range(len(keys)))
rnd.shuffle(ids)
ids = ids[:n]

acked = {}          # key -> class
kills = 0
resends = 0
dups = 0       # resends answered "already recorded": the first answer was lost
stop = threading.Event()


def killer():
    """Kill each server a random 5-80 ms after it came up."""
    global kills
    while not stop.is_set():
        with srv.lock:
            up = srv.up
        time.sleep(max(0.0, up + rnd.uniform(0.005, 0.08) - time.time()))
        with srv.lock:
            if stop.is_set() or srv.up != up:
                continue
            srv._kill()
        kills += 1


def ensure_server():
    with srv.lock:
        if srv.p.poll() is not None:
            srv._start()


def client(w, mine):
    """One labeller: its own session, labels its slice of the images one at a time."""
    global resends, dups
    crnd = random.Random(w)
    sess = {}

    def relogin():
        sess.clear()
        try:
            st, j, cookie = req("POST", "/api/login", {"name": "killer%d" % w})
            sess["cookie"], sess["csrf"] = cookie.split(";")[0], j["csrf"]
        except (ConnectionError, OSError, http.client.HTTPException, ValueError, TypeError, AttributeError):
            pass

    relogin()
    for k, i in enumerate(mine):
        cls = crnd.choice(["packaged", "unpackaged"])
        sub = "kill-%d-%06d-%08x" % (w, k, crnd.getrandbits(32))
        while True:
            try:
                st, j, _ = req("POST", "/api/label", {"id": i, "class": cls, "sub": sub},
                               {"Cookie": sess.get("cookie", ""), "X-CSRF-Token": sess.get("csrf", "")})
                if st == 401 or st == 403:      # the restarted server forgot the session
                    raise ConnectionError("session lost")
                if st == 200:
                    with lock:
                        dups += j["duplicate"]
                        acked[keys[i]] = cls
                    break
                raise SystemExit("unexpected HTTP %d: %s" % (st, j))
            except (ConnectionError, OSError, http.client.HTTPException, ValueError):
                with lock:
                    resends += 1
                ensure_server()
                time.sleep(0.005)
                relogin()       # the server may have restarted


lock = threading.Lock()
NCLIENTS = 4    # concurrent labellers, so kills also land inside group commits
t = threading.Thread(target=killer, daemon=True)
t.start()
workers = [threading.Thread(target=client, args=(w, ids[w::NCLIENTS])) for w in range(NCLIENTS)]
for x in workers:
    x.start()
for x in workers:
    x.join()
stop.set()
t.join()
srv.kill()

count = {}
last = {}
torn = 0
with open(labels) as f:
    lines = f.read().split("\n")
for ln in lines[1:]:
    if not ln:
        continue
    fs = ln.split("\t")
    if len(fs) != 5:
        torn += 1
        continue
    count[fs[1]] = count.get(fs[1], 0) + 1
    last[fs[1]] = fs[3]
bad = [(k, count.get(k, 0)) for k in acked if count.get(k, 0) != 1]
wrong = [k for k in acked if last.get(k) != acked[k]]
extra = [k for k in count if k not in acked]
print("acked %d labels, %d kills, %d resends (%d already recorded); lines %d; missing/duplicated %d; wrong class %d; unacked extra %d; torn %d"
      % (len(acked), kills, resends, dups, sum(count.values()), len(bad), len(wrong), len(extra), torn))
if bad or wrong or torn or len(acked) != n or kills < 3:
    print("FAILED:", bad[:5], wrong[:5])
    sys.exit(1)
