#!/bin/bash
# Attack the throwaway sshd on 127.0.0.1:2022; every step bounded.
set -u
H=127.0.0.1; P=2022; C=/work/tools-fixtures/client
O=(-F /dev/null -p $P -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5)
PW=(-o PubkeyAuthentication=no -o PreferredAuthentications=password)
echo "1 invalid user admin, 2 wrong passwords"; timeout 20 sshpass -p admin ssh "${O[@]}" "${PW[@]}" -o NumberOfPasswordPrompts=2 admin@$H true; echo rc=$?
echo "2 root (PermitRootLogin no)";           timeout 20 sshpass -p toor ssh "${O[@]}" "${PW[@]}" -o NumberOfPasswordPrompts=1 root@$H true; echo rc=$?
echo "3 valid user wrong password";            timeout 20 sshpass -p wrong ssh "${O[@]}" "${PW[@]}" -o NumberOfPasswordPrompts=1 hptiuser@$H true; echo rc=$?
echo "4 valid user right password + command";  timeout 20 sshpass -p Fixture-Pass-2026 ssh "${O[@]}" "${PW[@]}" hptiuser@$H 'id; uname -s'; echo rc=$?
echo "5 invalid user, too many failures (askpass answers every prompt, MaxAuthTries 3 on server)"
SSH_ASKPASS=$C/askpass-wrong.sh SSH_ASKPASS_REQUIRE=force DISPLAY=:0 timeout 30 setsid -w ssh "${O[@]}" "${PW[@]}" -o NumberOfPasswordPrompts=5 test@$H true < /dev/null; echo rc=$?
echo "6 publickey accepted";                   timeout 20 ssh "${O[@]}" -o BatchMode=yes -o IdentitiesOnly=yes -i $C/id_ed25519 hptiuser@$H true; echo rc=$?
echo "7 publickey rejected for invalid user";  timeout 20 ssh "${O[@]}" -o BatchMode=yes -o IdentitiesOnly=yes -i $C/id_rsa oracle@$H true; echo rc=$?
echo "8 TCP connect, no banner, close";        timeout 5 python3 -c "import socket;s=socket.create_connection(('$H',$P),3);s.recv(100);s.close()"
echo "9 garbage instead of SSH banner";        timeout 5 python3 -c "import socket,time;s=socket.create_connection(('$H',$P),3);s.recv(100);s.sendall(b'GET / HTTP/1.1\r\n\r\n');time.sleep(1);s.close()"
echo "10 version exchange then drop (scanner)"; timeout 5 python3 -c "import socket,time;s=socket.create_connection(('$H',$P),3);s.recv(100);s.sendall(b'SSH-2.0-Go\r\n');time.sleep(1);s.close()"
echo "11 password then client hangs up at prompt (ctrl-c style)"; timeout 8 sshpass -p nope ssh "${O[@]}" "${PW[@]}" -o NumberOfPasswordPrompts=1 ubuntu@$H true; echo rc=$?
echo "12 bot-like paramiko client: 2 wrong passwords for invalid user pi then SSH disconnect"; timeout 30 /work/tools-fixtures/attack-venv/bin/python /work/tools-fixtures/scripts/sshd_paramiko_bot.py
sleep 1
