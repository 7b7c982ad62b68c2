#!/bin/bash
# Run throwaway sshd (syslog to a temporary /dev/log sink), attack it, stop it.
set -u
TF=/work/tools-fixtures; D=$TF/sshd
rm -f $D/syslog-raw.txt; mkdir -p /run/sshd
timeout 150 python3 $TF/scripts/devlog_listener.py $D/syslog-raw.txt 120 &
LPID=$!
for i in $(seq 1 20); do [ -S /dev/log ] && break; sleep 0.25; done
/usr/sbin/sshd -D -f $D/sshd_config > $D/sshd-stderr.txt 2>&1 &
SPID=$!
for i in $(seq 1 20); do ss -ltn | grep -q '127.0.0.1:2022' && break; sleep 0.25; done
$TF/scripts/attack_sshd.sh
kill $SPID; wait $SPID 2>/dev/null
sleep 1; kill $LPID 2>/dev/null; wait $LPID 2>/dev/null
[ -e /dev/log ] && rm -f /dev/log
true
