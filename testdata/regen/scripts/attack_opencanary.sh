#!/bin/bash
# Attack every enabled OpenCanary module on 127.0.0.1 with real clients. All steps time-bounded.
set -u
TF=/work/tools-fixtures; H=127.0.0.1
OCPY=$TF/oc-venv/bin/python; ATPY=$TF/attack-venv/bin/python
step(){ echo "=== $*"; }
SSHO=(-F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5 -o PubkeyAuthentication=no -o PreferredAuthentications=password -o NumberOfPasswordPrompts=1)

step "ssh :2200 (OpenSSH client + sshpass)"
for cred in root:root admin:123456 ubuntu:ubuntu; do
  timeout 15 sshpass -p "${cred#*:}" ssh "${SSHO[@]}" -p 2200 "${cred%%:*}"@$H true; echo "rc=$?"
done
step "ftp :2121 (python ftplib)"; timeout 30 $OCPY $TF/scripts/oc_clients.py ftp
step "http :8081 (curl)"
curl -s -m 5 -o /dev/null -w '%{http_code}\n' -A 'Mozilla/5.0 (hpti-fixture)' http://$H:8081/
curl -s -m 5 -o /dev/null -w '%{http_code}\n' -A 'Mozilla/5.0 (hpti-fixture)' http://$H:8081/index.html
curl -s -m 5 -o /dev/null -w '%{http_code}\n' -A 'Mozilla/5.0 (hpti-fixture)' -d 'username=admin&password=nas-Passw0rd' http://$H:8081/index.html
curl -s -m 5 -o /dev/null -w '%{http_code}\n' -A 'sqlmap/1.7' -X PUT -d 'x' http://$H:8081/index.html
curl -s -m 5 -o /dev/null -w '%{http_code}\n' -X DELETE http://$H:8081/index.html
curl -s -m 5 -o /dev/null -w '%{http_code}\n' -A 'Nmap Scripting Engine' http://$H:8081/phpmyadmin/
step "https :8443 (curl -k)"
curl -sk -m 5 -o /dev/null -w '%{http_code}\n' -A 'Mozilla/5.0 (hpti-fixture-tls)' https://$H:8443/index.html
curl -sk -m 5 -o /dev/null -w '%{http_code}\n' -A 'Mozilla/5.0 (hpti-fixture-tls)' -d 'username=root&password=tls-secret' https://$H:8443/index.html
step "http proxy :8082 (curl -x with Basic proxy auth; target is loopback and never contacted)"
curl -s -m 5 -o /dev/null -w '%{http_code}\n' -x http://$H:8082 -U proxyuser:proxypass http://127.0.0.1:9/
curl -s -m 5 -o /dev/null -w '%{http_code}\n' -x http://$H:8082 http://127.0.0.1:9/
step "telnet :2323 (raw socket)"; timeout 30 $OCPY $TF/scripts/oc_clients.py telnet
step "mysql :3307 (mariadb client)"
timeout 10 mysql --protocol=TCP -h $H -P 3307 -u root -pToorSQL --connect-timeout=5 -e 'select 1'; echo "rc=$?"
timeout 10 mysql --protocol=TCP -h $H -P 3307 -u wordpress -p'wp-pass' --connect-timeout=5 wp -e 'show tables'; echo "rc=$?"
step "redis :6380 (redis-cli)"
timeout 10 redis-cli -h $H -p 6380 AUTH hunter2; timeout 10 redis-cli -h $H -p 6380 CONFIG GET dir
timeout 10 redis-cli -h $H -p 6380 SET hpti x; timeout 10 redis-cli -h $H -p 6380 KEYS '*'
step "git :9418 (git clone + raw)"
rm -rf /tmp/hpti-git-clone; timeout 15 git clone git://$H:9418/hpti/repo.git /tmp/hpti-git-clone; echo "rc=$?"; rm -rf /tmp/hpti-git-clone
timeout 10 $OCPY $TF/scripts/oc_clients.py git
step "mssql :1434 (python-tds: SQL auth, then NTLM/Windows auth via ntlm-auth)"; timeout 40 $ATPY $TF/scripts/oc_clients.py mssql mssql_winauth
step "mongodb :27018 (pymongo)"; timeout 30 $ATPY $TF/scripts/oc_clients.py mongodb
step "vnc/rdp/sip/tftp/ntp/tcpbanner (python sockets)"; timeout 60 $OCPY $TF/scripts/oc_clients.py vnc rdp sip tftp ntp tcpbanner
echo done
