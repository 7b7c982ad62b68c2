"""Temporary syslog sink: bind /dev/log (must not exist beforehand), write every datagram verbatim
(one per line) to argv[1]; exit after argv[2] seconds and remove /dev/log."""
import os, socket, sys, time
path = '/dev/log'; assert not os.path.exists(path), 'refusing to replace an existing /dev/log'
out = open(sys.argv[1], 'ab', buffering=0); stop = time.time() + float(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(path); os.chmod(path, 0o666)
try:
    while time.time() < stop:
        s.settimeout(max(0.1, stop - time.time()))
        try: d = s.recv(65536)
        except socket.timeout: continue
        out.write(d.rstrip(b'\n').replace(b'\n', b' ') + b'\n')
finally:
    s.close(); os.unlink(path)
