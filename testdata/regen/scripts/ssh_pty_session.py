"""Drive a real OpenSSH client (via sshpass) inside a pseudo-terminal with a real window size,
typing commands with delays. Bounded: every read has a deadline; total runtime capped."""
import os, pty, sys, time, select, fcntl, termios, struct, signal
HTTP = int(os.environ.get('HTTP_PORT', '8000'))
argv = ['sshpass', '-p', 'toor', 'ssh', '-F', '/dev/null', '-p', '2222',
        '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
        '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password',
        '-o', 'SendEnv=LANG', '-tt', 'root@127.0.0.1']
# (input, wait seconds after)
script = [
    ('uname -a\r', 2), ('cat /proc/cpuinfo\r', 2),
    (f'wget http://127.0.0.1:{HTTP}/file.bin\r', 3),
    (f'curl -o bot.sh http://127.0.0.1:{HTTP}/bot.sh\r', 3),
    ('wget http://127.0.0.1:9/missing.bin\r', 3),                      # connection refused -> file_download.failed
    ('cd /tmp\r', 1), ("echo -e '\\x41\\x42' > x\r", 1), ('chmod +x x\r', 1), ('./x\r', 1),
    ('hptinosuchcmd --flag\r', 1),
    ('cat\r', 1), ('typed into cat\r', 1), ('\x04', 1),                 # cowrie.session.input realm=cat
    ('passwd\r', 1), ('S3cret!\r', 1), ('S3cret!\r', 1),               # cowrie.command.success realm=passwd
    ("echo 'root:NewPass1' | chpasswd\r", 1),                         # cowrie.command.chpasswd
    ('/bin/busybox HPTI\r', 1), ('busybox echo hello\r', 1),          # busybox applet not found / found
    ('ls -la /tmp\r', 1), ('w\r', 1),
    ('exit\r', 2),
]
pid, fd = pty.fork()
if pid == 0:
    os.environ['LANG'] = 'en_US.UTF-8'
    os.execvp(argv[0], argv)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 40, 132, 0, 0))  # rows=40 cols=132
out = bytearray(); deadline = time.time() + 120
def pump(secs):
    end = min(time.time() + secs, deadline)
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try: data = os.read(fd, 65536)
            except OSError: return False
            if not data: return False
            out.extend(data)
    return True
pump(4)  # login + motd
for s, w in script:
    os.write(fd, s.encode())
    if not pump(w): break
pump(2)
try:
    os.kill(pid, signal.SIGTERM)
except ProcessLookupError: pass
os.waitpid(pid, 0)
open(sys.argv[1] if len(sys.argv) > 1 else '/dev/stdout', 'wb').write(bytes(out))
