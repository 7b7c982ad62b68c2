"""Convert captured /dev/log datagrams '<PRI>Mmm dd HH:MM:SS tag[pid]: msg' into rsyslog
RSYSLOG_TraditionalFileFormat lines 'Mmm dd HH:MM:SS HOST tag[pid]: msg' (what Debian writes to
/var/log/auth.log for facilities auth/authpriv). Only the <PRI> is dropped and HOST inserted; the
timestamp, tag, pid and message are byte-for-byte what sshd/PAM sent. Trailing spaces are kept."""
import re, sys
host = sys.argv[3] if len(sys.argv) > 3 else 'vm'
rx = re.compile(r'^<(\d+)>([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (.*)$')
with open(sys.argv[1], encoding='utf-8') as f, open(sys.argv[2], 'w', encoding='utf-8') as out:
    for line in f:
        m = rx.match(line.rstrip('\n'))
        if not m: raise SystemExit('unexpected line: %r' % line)
        pri = int(m.group(1)); fac = pri >> 3
        assert fac in (4, 10), line          # auth / authpriv only -> /var/log/auth.log
        out.write('%s %s %s\n' % (m.group(2), host, m.group(3)))
