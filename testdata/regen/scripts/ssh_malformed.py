"""paramiko client: complete key exchange with cowrie on 127.0.0.1:2222, then send a truncated
SSH_MSG_SERVICE_REQUEST (no service-name string) -> cowrie.client.malformed_packet."""
import socket, time, paramiko
from paramiko.message import Message
sock = socket.create_connection(('127.0.0.1', 2222), timeout=10)
t = paramiko.Transport(sock)
t.local_version = 'SSH-2.0-paramiko_hpti_fixture'
t.start_client(timeout=10)
m = Message(); m.add_byte(bytes([5]))            # SSH_MSG_SERVICE_REQUEST, body missing
m.add_bytes(b'\x00\x00')                          # 2 garbage bytes: too short for a uint32 length
t._send_message(m)
time.sleep(2)
print('active after malformed packet:', t.is_active())
t.close()
