#!/usr/bin/env python3
"""Generate the bd-policy benchmark inputs: N exec events shaped like bd-watch's,
a 50-rule policy, and a jq program that makes the same decisions."""
import json, random, sys

n = int(sys.argv[1]); out = sys.argv[2]
random.seed(42)
comms = ["bash", "sh", "ls", "cat", "python3", "git", "make", "cc1", "ld", "sed",
         "awk", "grep", "curl", "ssh", "node", "java", "nginx", "php-fpm", "true", "env"]
dirs = ["/usr/bin", "/usr/sbin", "/bin", "/usr/lib/gcc/x86_64-linux-gnu/12",
        "/usr/local/bin", "/home/dev/.local/bin", "/srv/app/bin", "/snap/bin"]

rules = []  # (toml, jq condition)
def q(s): return json.dumps(s)
for i in range(10):
    rules.append((f'filename = {{ glob = "/opt/vendor{i}/**" }}',
                  f'(.filename | startswith("/opt/vendor{i}/"))'))
for i in range(10):
    rules.append((f'filename = {{ prefix = "/var/cache/job{i}/" }}',
                  f'(.filename | startswith("/var/cache/job{i}/"))'))
for i in range(10):
    rules.append((f'comm = "tool-{i}"', f'(.comm == "tool-{i}")'))
for i in range(10):
    lo = 20000 + i * 1000
    rules.append((f'uid = {{ ge = {lo}, lt = {lo + 500} }}', f'(.uid >= {lo} and .uid < {lo + 500})'))
for i in range(9):
    s = [f"svc{i}-{k}" for k in range(4)]
    rules.append((f'comm = {{ in = {json.dumps(s)} }}',
                  '(.comm as $c | ' + json.dumps(s) + ' | index([$c]) != null)'))

pol = ["version = 1"]
jq = []
for i, (m, cond) in enumerate(rules):
    d = ["deny", "alert"][i % 2]
    pol += ["", "[[rule]]", f'name = "r{i}"', f'decision = "{d}"', f'reason = "rule {i}"',
            "[rule.match]", 'type = "exec"', m]
    jq.append(f'if .type == "exec" and {cond} then {{v:1,type:"decision",decision:"{d}",rule:"r{i}",reason:"rule {i}",mode:"OPEN",tripwire:null,event:.}}')
pol += ["", "[[rule]]", 'name = "default"', 'decision = "allow"', 'reason = "default"']
jq_prog = "\nel".join(jq) + '\nelse {v:1,type:"decision",decision:"allow",rule:"default",reason:"default",mode:"OPEN",tripwire:null,event:.} end'
open(f"{out}/policy.toml", "w").write("\n".join(pol) + "\n")
open(f"{out}/filter.jq", "w").write(jq_prog + "\n")

with open(f"{out}/events.jsonl", "w") as f:
    ktime = 10_000_000_000
    for k in range(n):
        comm = random.choice(comms)
        d = random.choice(dirs)
        if k % 97 == 0:
            d = f"/opt/vendor{k % 10}/bin"
        fn = f"{d}/{comm}"
        pid = 1000 + k % 30000
        argv = [comm] + [f"--opt{j}=value{k % 13}" for j in range(k % 5)]
        ktime += random.randint(1000, 100000)
        ev = {"v": 1, "type": "exec", "time": "2026-11-25T19:18:40.123456789Z", "ktime_ns": ktime,
              "pid": pid, "tid": pid, "ppid": 1 + pid // 7, "uid": random.choice([0, 33, 1000, 1001, 20100]),
              "gid": 0, "comm": comm, "filename": fn, "argv": argv, "argv_truncated": False,
              "filename_truncated": False, "cgroup_id": 4242, "protected": False}
        f.write(json.dumps(ev, separators=(",", ":")) + "\n")
