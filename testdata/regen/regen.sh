#!/bin/bash
# Regenerate testdata/{cowrie/cowrie.json,cowrie/hydra.json,opencanary/opencanary.log,authlog/auth.log} on a Debian 12 box
# as root, loopback only. Usage: bash testdata/regen/regen.sh [OUTDIR]   (default: the testdata dir)
# Work dir: /work/tools-fixtures (venvs, honeypot state). Takes ~5 minutes. See testdata/FORMATS.md.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd); OUT=${1:-$(dirname "$HERE")}; TF=/work/tools-fixtures
mkdir -p $TF/scripts && cp $HERE/scripts/* $TF/scripts/ && chmod +x $TF/scripts/*.sh
mv -f $TF/scripts/run-cowrie.sh $TF/run-cowrie.sh
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq hydra sshpass openssh-server openssh-client curl mariadb-client redis-tools git \
  python3-venv python3-dev build-essential libffi-dev libssl-dev openssl >/dev/null
# --- cowrie 3.1.4 in a venv built on the system python (the unprivileged 'cowrie' user must be able to run it)
[ -x $TF/cowrie-venv/bin/cowrie ] || { /usr/bin/python3 -m venv $TF/cowrie-venv; $TF/cowrie-venv/bin/pip install -q cowrie==3.1.4; }
N=$TF/cowrie-venv/lib/python3.11/site-packages/cowrie/core/network.py
grep -q HPTI-FIXTURE $N || (cd $TF/cowrie-venv/lib/python3.11/site-packages && patch -p0 < $HERE/config/cowrie-network-loopback.patch)
id cowrie >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin cowrie
mkdir -p $TF/cowrie-home/etc $TF/cowrie-home/var/log/cowrie $TF/cowrie-home/var/lib/cowrie/{downloads,tty} $TF/cowrie-home/var/run
cp $HERE/config/cowrie.cfg $HERE/config/userdb.txt $TF/cowrie-home/etc/; chown -R cowrie: $TF/cowrie-home
# --- opencanary 0.9.10 + attack-side python clients
[ -x $TF/oc-venv/bin/twistd ] || { python3 -m venv $TF/oc-venv; $TF/oc-venv/bin/pip install -q opencanary==0.9.10; }
T=$TF/oc-venv/lib/python3.11/site-packages/opencanary/modules/tcpbanner.py
grep -q HPTI-FIXTURE $T || (cd $TF/oc-venv/lib/python3.11/site-packages && patch -p0 < $HERE/config/opencanary-tcpbanner-bind.patch)
mkdir -p $TF/oc-home && cp $HERE/config/opencanary.conf $TF/oc-home/
[ -f $TF/oc-home/oc.pem ] || openssl req -x509 -newkey rsa:2048 -nodes -keyout $TF/oc-home/oc.key -out $TF/oc-home/oc.pem -days 30 -subj '/CN=nas.hpti.test' 2>/dev/null
[ -x $TF/attack-venv/bin/python ] || { python3 -m venv $TF/attack-venv; $TF/attack-venv/bin/pip install -q paramiko 'pymongo<4.14' python-tds ntlm-auth; }
# --- client material + local HTTP server that cowrie's wget/curl download from
mkdir -p $TF/client $TF/httproot
[ -f $TF/client/id_ed25519 ] || ssh-keygen -q -t ed25519 -N '' -C attacker@hpti-fixture -f $TF/client/id_ed25519
[ -f $TF/client/id_rsa ] || ssh-keygen -q -t rsa -b 2048 -N '' -C attacker-rsa@hpti-fixture -f $TF/client/id_rsa
printf 'hello from scp upload\n' > $TF/client/upload.txt
printf '#!/bin/sh\necho sftp payload\n' > $TF/client/payload.sh
printf '#!/bin/sh\n# uploaded with sftp put\nwhoami\n' > $TF/client/bot-sftp.sh
printf '#!/bin/sh\necho 123456\n' > $TF/client/askpass-wrong.sh; chmod +x $TF/client/askpass-wrong.sh
printf '\x7fELF\x02\x01\x01\x00hpti-fixture-payload\n' > $TF/httproot/file.bin
printf '#!/bin/sh\necho hi\n' > $TF/httproot/bot.sh
python3 -m http.server 8000 --bind 127.0.0.1 --directory $TF/httproot > $TF/http.log 2>&1 &
HTTPPID=$!; sleep 1
# --- 1. cowrie
$TF/scripts/run_cowrie_fixtures.sh > $TF/run-cowrie-fixtures.out 2>&1
mkdir -p $OUT/cowrie && cp $TF/cowrie-home/var/log/cowrie/cowrie.json $OUT/cowrie/cowrie.json
# --- 1b. cowrie again, own state dir + empty log, userdb 'root:x:toor': hydra brute force, then a wget session
CH2=$TF/cowrie-hydra-home
mkdir -p $CH2/etc $CH2/var/log/cowrie $CH2/var/lib/cowrie/{downloads,tty} $CH2/var/run
cp $HERE/config/cowrie.cfg $CH2/etc/; printf 'root:x:toor\n' > $CH2/etc/userdb.txt; chown -R cowrie: $CH2
CH=$CH2 $TF/scripts/attack_cowrie_hydra.sh > $TF/run-cowrie-hydra.out 2>&1
cp $CH2/var/log/cowrie/cowrie.json $OUT/cowrie/hydra.json
# --- 2. opencanary
$TF/scripts/run_opencanary_fixtures.sh > $TF/run-oc-fixtures.out 2>&1 || true
mkdir -p $OUT/opencanary && cp $TF/oc-home/opencanary.log $OUT/opencanary/opencanary.log
kill $HTTPPID
# --- 3. real sshd -> temporary /dev/log sink -> auth.log
mkdir -p $TF/sshd; cp $HERE/config/sshd_config $TF/sshd/
[ -f $TF/sshd/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f $TF/sshd/ssh_host_ed25519_key
[ -f $TF/sshd/ssh_host_rsa_key ] || ssh-keygen -q -t rsa -b 2048 -N '' -f $TF/sshd/ssh_host_rsa_key
id hptiuser >/dev/null 2>&1 || useradd -m -s /bin/sh hptiuser
echo 'hptiuser:Fixture-Pass-2026' | chpasswd
install -d -o hptiuser -g hptiuser -m 700 /home/hptiuser/.ssh
install -o hptiuser -g hptiuser -m 600 $TF/client/id_ed25519.pub /home/hptiuser/.ssh/authorized_keys
$TF/scripts/run_sshd_fixture.sh > $TF/run-sshd.out 2>&1
mkdir -p $OUT/authlog && python3 $TF/scripts/syslog_to_authlog.py $TF/sshd/syslog-raw.txt $OUT/authlog/auth.log vm
userdel -r hptiuser 2>/dev/null || true
echo "fixtures written to $OUT"
