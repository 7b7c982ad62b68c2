"""Bot-like paramiko client: two wrong passwords for invalid user 'pi' on 127.0.0.1:2022, then a clean
SSH_MSG_DISCONNECT (paramiko closes politely, like many brute-force bots)."""
import socket, paramiko
s = socket.create_connection(('127.0.0.1', 2022), timeout=10)
t = paramiko.Transport(s); t.local_version = 'SSH-2.0-libssh_0.9.6'; t.start_client(timeout=10)
for pw in ('raspberry', 'raspberrypi'):
    try: t.auth_password('pi', pw)
    except paramiko.AuthenticationException as e: print('auth failed', pw)
t.close()
