"""Emit markdown tables (field, JSON type, presence) + one verbatim example line per event type
from the captured fixtures, plus the source-derived list of all cowrie eventids."""
import json, collections, sys
def jt(v):
    return {bool:'bool',int:'int',float:'float',str:'string',list:'array',dict:'object',type(None):'null'}[type(v)]
out = []
W = out.append
# ---------------- cowrie
lines = open('/work/main/testdata/cowrie/cowrie.json').read().splitlines()
COMMON = ['session','protocol','src_ip','src_port','dst_ip','dst_port','eventid','sensor','uuid','timestamp','message']
ev = collections.OrderedDict()
for l in lines:
    d = json.loads(l)
    e = ev.setdefault(d['eventid'], {'n':0,'keys':collections.OrderedDict(),'ex':collections.OrderedDict(),'proto':set()})
    e['n'] += 1; e['proto'].add(d['protocol']); e['ex'].setdefault(frozenset(d), l)
    for k, v in d.items():
        if k in COMMON: continue
        e['keys'].setdefault(k, collections.Counter())[jt(v)] += 1
W('<!-- cowrie-generated -->')
for name in sorted(ev):
    e = ev[name]
    W(f'#### `{name}`  ({e["n"]}x, protocol: {", ".join(sorted(e["proto"]))})\n')
    if e['keys']:
        W('| field | JSON type | present |'); W('|---|---|---|')
        for k, c in e['keys'].items():
            n = sum(c.values())
            pres = 'always' if n == e['n'] else '%d of %d' % (n, e['n']); W('| `%s` | %s | %s |' % (k, ' / '.join(c), pres))
    else:
        W('_Only the common fields._')
    exs = list(e['ex'].values())
    W('\n' + ('Example (verbatim):' if len(exs) == 1 else 'One verbatim example per distinct shape (%d):' % len(exs)) + '\n```json\n' + '\n'.join(exs) + '\n```\n')
# source list
src = json.load(open('/work/tools-fixtures/cowrie-events-source.json'))
W('<!-- cowrie-source-list -->')
W('| eventid | emitted at (cowrie package path:line) | fields passed by the emitter (besides the common ones) | in fixture |')
W('|---|---|---|---|')
for s in src:
    f = [x for x in s['fields'] if x != 'format']
    if s['kwargs_splat'] == ['keyfields']: f = ['username','fingerprint','key','type']
    if s['kwargs_splat'] == ['extra']: f += ['**extra']
    W(f"| `{s['eventid']}` | `{s['file']}:{s['line']}` | {', '.join('`%s`' % x for x in f) or '-'} | {'yes' if s['eventid'] in ev else 'no'} |")
# ---------------- opencanary
W('<!-- opencanary-generated -->')
oc = collections.OrderedDict()
for l in open('/work/main/testdata/opencanary/opencanary.log').read().splitlines():
    d = json.loads(l)
    e = oc.setdefault(d['logtype'], {'n':0,'keys':collections.OrderedDict(),'ex':collections.OrderedDict(),'ports':set(),'top':collections.Counter()})
    e['n'] += 1; e['ports'].add(d['dst_port']); e['ex'].setdefault((frozenset(d), frozenset(d['logdata']) if isinstance(d['logdata'], dict) else None, d['logdata'].get('action') if isinstance(d['logdata'], dict) else None), l)
    for k in d: e['top'][k] += 1
    for k, v in d['logdata'].items(): e['keys'].setdefault(k, collections.Counter())[jt(v)] += 1
for lt in sorted(oc):
    e = oc[lt]
    extra = [k for k in e['top'] if k not in ('dst_host','dst_port','local_time','local_time_adjusted','logdata','logtype','node_id','src_host','src_port','utc_time')]
    W(f'#### logtype `{lt}`  ({e["n"]}x, dst_port: {", ".join(map(str, sorted(e["ports"])))})\n')
    if e['keys']:
        W('| `logdata` key | JSON type | present |'); W('|---|---|---|')
        for k, c in e['keys'].items():
            n = sum(c.values())
            pres = 'always' if n == e['n'] else '%d of %d' % (n, e['n']); W('| `%s` | %s | %s |' % (k, ' / '.join(c), pres))
    else:
        W('`logdata` is `{}` (empty object).')
    if extra: W('\nExtra top-level key(s): ' + ', '.join(f'`{k}` ({e["top"][k]} of {e["n"]})' for k in extra))
    exs = list(e['ex'].values())
    W('\n' + ('Example (verbatim):' if len(exs) == 1 else 'One verbatim example per distinct shape (%d):' % len(exs)) + '\n```json\n' + '\n'.join(exs) + '\n```\n')
print('\n'.join(out))
