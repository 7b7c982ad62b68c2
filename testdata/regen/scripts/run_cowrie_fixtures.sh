#!/bin/bash
# Regenerate testdata/cowrie/cowrie.json from a fresh cowrie run. Assumes: cowrie venv + state dir set up,
# user 'cowrie' exists, python http.server running on 127.0.0.1:8000 serving httproot/.
set -u
TF=/work/tools-fixtures; CH=$TF/cowrie-home
stop_cowrie(){ local p; p=$(pgrep -u cowrie -f 'cowrie-venv/bin/twistd' | head -1); [ -n "$p" ] || return 0
  kill "$p"; for i in $(seq 1 30); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.5; done; kill -9 "$p"; }
stop_cowrie
rm -f $CH/var/log/cowrie/cowrie.json* $CH/var/lib/cowrie/downloads/* $CH/var/lib/cowrie/tty/*
nohup runuser -u cowrie -- $TF/run-cowrie.sh > $TF/cowrie-stdout.log 2>&1 &
for i in $(seq 1 30); do ss -ltn | grep -q '127.0.0.1:2223' && break; sleep 0.5; done
sleep 1
$TF/scripts/attack_cowrie_ssh.sh
timeout 30 $TF/attack-venv/bin/python $TF/scripts/ssh_malformed.py
for m in normal cve garbage; do timeout 120 python3 $TF/scripts/telnet_attack.py $m > $TF/telnet-$m.txt 2>&1; echo "telnet $m rc=$?"; done
sleep 2
stop_cowrie
sleep 1
