#!/usr/bin/env python3
"""Reads `wrk --latency` output on stdin and prints one line:
   rps p50_ms p99_ms non2xx socket_errors [ok busy503 limited429 other]
(the last four only when the wrk script printed a STATUS line, see login_status.lua).
Same latency parsing as ../shared/bench/peer_bench.sh."""
import re
import sys

t = sys.stdin.read()


def ms(tag):
    m = re.search(r"^\s*" + tag + r"\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
    if not m:
        return float("nan")
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v


rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
done = re.search(r"(\d+) requests in", t)
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
sockerr = sum(int(x) for x in sock.groups()) if sock else 0
status = re.search(r"STATUS 2xx=(\d+) 503=(\d+) 429=(\d+) other=(\d+)", t)
if not done or int(done.group(1)) == 0:
    out = ["0", "inf", "inf", "0", str(sockerr)]
else:
    out = ["%.0f" % (float(rps.group(1)) if rps else 0), "%.2f" % ms("50%"), "%.2f" % ms("99%"),
           non2xx.group(1) if non2xx else "0", str(sockerr)]
if status:
    out += list(status.groups())
print(" ".join(out))
