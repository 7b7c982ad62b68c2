#!/bin/bash
# Attack cowrie SSH on 127.0.0.1:2222 with real OpenSSH clients. Every step is time-bounded.
set -u
H=127.0.0.1; P=2222; HTTP=8000
C=/work/tools-fixtures/client
SSHO=(-F /dev/null -p $P -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5)
PW=(-o PubkeyAuthentication=no -o PreferredAuthentications=password -o NumberOfPasswordPrompts=1)
step(){ echo "=== $*"; }

step "1. failed passwords (root/root, root/123456, root/password, admin/admin, invalid user oracle/oracle)"
for cred in root:root root:123456 root:password admin:admin oracle:oracle; do
  u=${cred%%:*}; p=${cred#*:}
  timeout 15 sshpass -p "$p" ssh "${SSHO[@]}" "${PW[@]}" $u@$H true; echo "rc=$?"
  sleep 0.5
done

step "2. public key attempt (ed25519 + rsa, both rejected), then fall through to no password -> fail"
timeout 15 ssh "${SSHO[@]}" -o BatchMode=yes -o IdentitiesOnly=yes -o PreferredAuthentications=publickey -i $C/id_ed25519 -i $C/id_rsa root@$H true; echo "rc=$?"

step "3. exec request with env vars (SetEnv -> cowrie.client.var)"
timeout 20 sshpass -p toor ssh "${SSHO[@]}" "${PW[@]}" -o SetEnv="HPTI_VAR=fixture LC_HPTI=1" root@$H 'uname -a'; echo "rc=$?"

step "4. exec with stdin (cat -> session.input) and a pipeline"
printf 'line-one\nline-two\n' | timeout 20 sshpass -p toor ssh "${SSHO[@]}" "${PW[@]}" root@$H 'cat > /tmp/stdin.txt; cat /tmp/stdin.txt | wc -l'; echo "rc=$?"

step "5. interactive shell in a real pty (132x40) via python pty driver"
timeout 150 python3 /work/tools-fixtures/scripts/ssh_pty_session.py /work/tools-fixtures/ssh-shell-transcript.txt; echo "rc=$?"

step "6. scp upload: legacy scp protocol (-O) and SFTP-based scp; sftp put"
timeout 20 sshpass -p toor scp -O -P $P -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "${PW[@]}" $C/upload.txt root@$H:/tmp/upload.txt; echo "rc=$?"
timeout 20 sshpass -p toor scp -s -P $P -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "${PW[@]}" $C/payload.sh root@$H:/tmp/payload.sh; echo "rc=$?"
printf 'put %s /tmp/sftp-put.sh\nls /tmp\nbye\n' $C/bot-sftp.sh | timeout 20 sshpass -p toor sftp -P $P -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "${PW[@]}" root@$H; echo "rc=$?"

step "7. direct-tcpip: -L 18080->127.0.0.1:$HTTP (cfg: redirected to 127.0.0.1:8000), -L 18443->127.0.0.1:443 (discarded, TLS hello -> ja4), -L 18082->127.0.0.1:8080 (cfg: tunnelled via CONNECT to 127.0.0.1:8000)"
timeout 25 sshpass -p toor ssh "${SSHO[@]}" "${PW[@]}" -N -o ExitOnForwardFailure=yes -L 127.0.0.1:18080:127.0.0.1:$HTTP -L 127.0.0.1:18443:127.0.0.1:443 -L 127.0.0.1:18082:127.0.0.1:8080 root@$H &
FWD=$!
sleep 4
curl -s -m 5 -A 'hpti-fixture-curl/1.0' http://127.0.0.1:18080/index.html -o /dev/null; echo "curl http rc=$?"
curl -s -m 5 -k https://127.0.0.1:18443/ -o /dev/null; echo "curl https rc=$?"
curl -s -m 5 http://127.0.0.1:18082/tunnelled -o /dev/null; echo "curl tunnel rc=$?"
sleep 1
kill $FWD 2>/dev/null; wait $FWD 2>/dev/null
echo done
