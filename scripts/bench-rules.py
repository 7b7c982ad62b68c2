#!/usr/bin/env python3
"""Writes the rule mix of issue 13's benchmarks into DIR: 50 hpti rules (every type,
filters on the kinds the bench traffic has) and one `type: sigma` rule over 50 Sigma
rules (DIR/sigma/), 100 rules in all.

    scripts/bench-rules.py /tmp/rules100 [--rare-alerts]
    hpti bench pipeline --events 1000000 --rules /tmp/rules100

The bench traffic gives each session a random SSH client, so the `change` rules (client
version per source address) raise an alert for most sessions: an alert storm, about one
alert for every four events. With `--rare-alerts` they compare per session instead (one
version per session: no change), which leaves the rules' evaluation and few alerts.
"""
import os
import sys

args = [a for a in sys.argv[1:] if not a.startswith("--")]
rare = "--rare-alerts" in sys.argv
out = args[0] if args else "bench-rules"
os.makedirs(os.path.join(out, "sigma"), exist_ok=True)
rules = []
kinds = ["login.attempt", "command.input", "file.download", "client.version", "session.closed"]
words = ["wget", "curl", "chmod", "busybox", "uname", "cat", "echo", "tftp", "nproc", "passwd"]
for i in range(50):
    kind = kinds[i % len(kinds)]
    word = words[i % len(words)]
    t = ["any", "frequency", "spike", "flatline", "new_term", "cardinality", "change"][i % 7]
    r = [f"name: bench-{i:02d}-{t}", f"type: {t}", "severity: medium"]
    if t == "any":
        r += [f"filter: {{ kind: command.input, data.command: {{ contains: 'hpti-bench-never-{i}' }} }}"]
    elif t == "frequency":
        r += [f"filter: {{ kind: {kind} }}", "query_key: src_ip", f"num_events: {20 + i}", "timeframe: 1m"]
    elif t == "spike":
        r += [f"filter: {{ kind: {kind} }}", "timeframe: 5m", "spike_height: 10", "spike_type: up", "threshold_cur: 1000"]
    elif t == "flatline":
        r += [f"filter: {{ kind: {kind} }}", "query_key: sensor", "threshold: 1", "timeframe: 30m"]
    elif t == "new_term":
        field = {"login.attempt": "data.username", "command.input": "data.command",
                 "file.download": "data.url", "client.version": "data.version",
                 "session.closed": "sensor"}[kind]
        r += [f"filter: {{ kind: {kind} }}", f"fields: [{field}]", "max_terms: 50000"]
    elif t == "cardinality":
        r += ["filter: { kind: login.attempt }", "query_key: data.password", "cardinality_field: src_ip",
              f"max_cardinality: {200 + i}", "timeframe: 10m"]
    elif t == "change":
        r += ["filter: { kind: client.version }", "query_key: " + ("session" if rare else "src_ip"),
              "compare_key: data.version", "ignore_null: true"]
    rules.append("\n".join(r) + "\n")
for i, text in enumerate(rules):
    with open(os.path.join(out, f"bench-{i:02d}.yml"), "w") as f:
        f.write(text)
fields = ["CommandLine", "Image", "User", "c-uri", "version"]
for i in range(50):
    field = fields[i % len(fields)]
    product = "hpti" if field == "version" else "linux"
    category = {"CommandLine": "process_creation", "Image": "process_creation", "User": None,
                "c-uri": "proxy", "version": None}[field]
    logsource = f"  product: {product}\n" + (f"  category: {category}\n" if category else "")
    value = f"hpti-bench-sigma-{i}"
    with open(os.path.join(out, "sigma", f"sigma-{i:02d}.yml"), "w") as f:
        f.write(f"""title: bench sigma {i:02d}
id: 00000000-0000-4000-8000-{i:012d}
status: test
logsource:
{logsource}detection:
  selection:
    {field}|contains:
      - '{value}'
      - '{value}-b'
  filter:
    {field}|endswith: '-ok'
  condition: selection and not filter
level: {['low', 'medium', 'high'][i % 3]}
""")
with open(os.path.join(out, "bench-sigma.yml"), "w") as f:
    f.write("name: bench-sigma\ntype: sigma\nsigma: ['sigma/*.yml']\n")
print(f"{out}: 50 rules and 50 Sigma rules")
