"""List every cowrie event emission in the installed source: events.dispatch("cowrie.x", fmt, k=v...)
and log.msg(eventid="cowrie.x", k=v...) style calls. Prints eventid, file:line, field names."""
import ast, os, sys, json
root = sys.argv[1]
out = []
for dp, dn, fns in os.walk(root):
    if '/test' in dp: continue
    for fn in fns:
        if not fn.endswith('.py'): continue
        p = os.path.join(dp, fn)
        try: tree = ast.parse(open(p).read())
        except Exception as e: print('PARSEFAIL', p, e, file=sys.stderr); continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call): continue
            eid = None; fields = []; fmt=None
            kws = {k.arg: k.value for k in node.keywords if k.arg}
            if 'eventid' in kws and isinstance(kws['eventid'], ast.Constant):
                eid = kws['eventid'].value
                fields = [k for k in kws if k not in ('eventid',)]
                if 'format' in kws and isinstance(kws['format'], ast.Constant): fmt = kws['format'].value
            elif node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str) \
                 and node.args[0].value.startswith('cowrie.') and isinstance(node.func, ast.Attribute) and node.func.attr == 'dispatch':
                eid = node.args[0].value
                fields = list(kws)
                if len(node.args) > 1:
                    a = node.args[1]
                    try: fmt = ast.literal_eval(a)
                    except Exception:
                        # string concatenation
                        fmt = ast.unparse(a)
            if eid:
                extra = [ast.unparse(k.value) for k in node.keywords if k.arg is None]
                out.append(dict(eventid=eid, file=os.path.relpath(p, root), line=node.lineno, fields=fields, kwargs_splat=extra, format=fmt))
out.sort(key=lambda d:(d['eventid'], d['file'], d['line']))
json.dump(out, sys.stdout, indent=1)
