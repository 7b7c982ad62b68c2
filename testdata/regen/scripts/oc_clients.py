"""Small protocol clients for OpenCanary modules on 127.0.0.1. Run with the OpenCanary venv python
(uses opencanary.modules.des for the client-side VNC DES response) -- every socket has a timeout."""
import socket, struct, sys, time, ftplib
H = '127.0.0.1'
def tcp(port, t=5): s = socket.create_connection((H, port), timeout=t); s.settimeout(t); return s
def recv(s, n=65536):
    try: return s.recv(n)
    except socket.timeout: return b''

def ftp():
    for u, p in [('anonymous', 'guest@example.com'), ('admin', 'admin123'), ('ftpuser', 'Passw0rd!')]:
        try:
            f = ftplib.FTP(); f.connect(H, 2121, timeout=5); f.login(u, p); f.quit()
        except ftplib.all_errors as e: print('ftp', u, '->', e)

def telnet():
    IAC, DO, DONT, WILL, WONT = 255, 253, 254, 251, 252
    s = tcp(2323)
    def rd(until=b':', secs=3):
        buf = b''; end = time.time() + secs
        while time.time() < end and until not in buf:
            d = recv(s)
            if not d: break
            i = 0; out = b''
            while i < len(d):
                if d[i] == IAC and i + 2 < len(d) and d[i+1] in (DO, DONT, WILL, WONT):
                    c, o = d[i+1], d[i+2]
                    s.sendall(bytes([IAC, {DO: WONT, DONT: WONT, WILL: DO if o == 1 else DONT, WONT: DONT}[c], o])); i += 3
                else: out += d[i:i+1]; i += 1
            buf += out
        return buf
    rd(b'login: ')
    for u, p in [('root', 'root'), ('admin', 'admin1')]:   # admin/admin1 is a configured honeycred
        s.sendall(u.encode() + b'\r\n'); rd(b'Password: ')
        s.sendall(p.encode() + b'\r\n'); rd(b'login: ', 4)
    s.close()

def mssql():
    import pytds
    for u, p in [('sa', 'sa'), ('sa', 'P@ssw0rd')]:
        try: pytds.connect(server=H, port=1434, user=u, password=p, login_timeout=5, timeout=5)
        except Exception as e: print('mssql', u, '->', type(e).__name__, e)

def mssql_winauth():
    import pytds, pytds.login
    try: pytds.connect(server=H, port=1434, auth=pytds.login.NtlmAuth(user_name='CORP\\jdoe', password='Winter2026!'), login_timeout=5, timeout=5)
    except Exception as e: print('mssql winauth ->', type(e).__name__, e)

def vnc(password='password'):
    from opencanary.modules.des import des
    s = tcp(5901)
    ver = recv(s); s.sendall(b'RFB 003.008\n')
    sec = recv(s)                       # [n][types...]
    s.sendall(b'\x02')                  # VNC authentication
    chal = recv(s)
    pw = password[:8].ljust(8, '\x00').encode()
    key = bytearray(int('{:08b}'.format(x)[::-1], 2) for x in pw)
    s.sendall(des(key).encrypt(chal[:16]))
    print('vnc ->', recv(s)); s.close()

def rdp(user='administrator'):
    cookie = b'Cookie: mstshash=' + user.encode() + b'\r\n'
    neg = bytes.fromhex('0100080003000000')          # RDP_NEG_REQ: TLS|CredSSP
    x224 = bytes([6 + len(cookie) + len(neg), 0xE0, 0, 0, 0, 0, 0]) + cookie + neg
    pkt = b'\x03\x00' + struct.pack('>H', 4 + len(x224)) + x224
    s = tcp(3390); s.sendall(pkt); print('rdp ->', recv(s).hex()); s.close()

def udp(port, payload):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
    s.sendto(payload, (H, port))
    try: print('udp', port, '->', s.recv(2048)[:60])
    except socket.timeout: print('udp', port, '-> (no reply)')
    s.close()

def sip():
    msg = ('OPTIONS sip:100@127.0.0.1 SIP/2.0\r\n'
           'Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-hpti-1;rport\r\n'
           'Max-Forwards: 70\r\nTo: <sip:100@127.0.0.1>\r\nFrom: "sipvicious"<sip:100@127.0.0.1>;tag=6266316233\r\n'
           'Call-ID: 1234567890@hpti\r\nCSeq: 1 OPTIONS\r\nContact: <sip:100@127.0.0.1:5099>\r\n'
           'User-Agent: friendly-scanner\r\nAccept: application/sdp\r\nContent-Length: 0\r\n\r\n')
    udp(5061, msg.encode())

def tftp():
    udp(6969, b'\x00\x01' + b'router-config.cfg\x00octet\x00')
    udp(6969, b'\x00\x02' + b'upload.bin\x00netascii\x00')

def ntp():
    udp(1123, b'\x17\x00\x03\x2a' + b'\x00' * 4)     # mode 7 MON_GETLIST_1 (monlist)

def tcpbanner():
    s = tcp(8001); print('banner1 ->', recv(s)); s.sendall(b'HELLO hpti\r\n'); print(recv(s)); s.close()
    s = tcp(8003); print('banner3 ->', recv(s)); s.sendall(b'SSH-2.0-Go\r\n'); time.sleep(0.3); s.close()
    s = tcp(8002); print('banner2 ->', recv(s)); s.sendall(b'some data before secret\r\n'); time.sleep(0.5)
    s.sendall(b'hpti-secret\r\n'); time.sleep(0.5); s.sendall(b'data after secret\r\n'); time.sleep(0.5); s.close()

def mongodb():
    import pymongo
    c = pymongo.MongoClient(f'mongodb://dbadmin:Mongo123@{H}:27018/?authSource=admin&directConnection=true&authMechanism=SCRAM-SHA-1',
                            serverSelectionTimeoutMS=4000, connectTimeoutMS=3000, socketTimeoutMS=3000)
    try: print('mongodb ->', c.admin.command('listDatabases'))
    except Exception as e: print('mongodb ->', type(e).__name__, str(e)[:120])
    c.close()

def git():
    req = b'git-upload-pack /hpti/secret-infra.git\x00host=127.0.0.1:9418\x00'
    s = tcp(9418); s.sendall(b'%04x' % (len(req) + 4) + req); print('git ->', recv(s)); s.close()

for name in (sys.argv[1:] or ['ftp', 'telnet', 'mssql', 'vnc', 'rdp', 'sip', 'tftp', 'ntp', 'tcpbanner', 'mongodb', 'git']):
    print('###', name)
    try: globals()[name]()
    except Exception as e: print(name, 'ERROR', type(e).__name__, e)
    time.sleep(0.5)
