#!/bin/bash
# Regenerate the OpenCanary log: restart opencanary (cwd config oc-home/opencanary.conf), attack, stop.
set -u
TF=/work/tools-fixtures; OH=$TF/oc-home
stop_oc(){ [ -f $OH/twistd.pid ] || return 0; local p; p=$(cat $OH/twistd.pid); kill "$p" 2>/dev/null
  for i in $(seq 1 30); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.5; done; kill -9 "$p"; }
stop_oc
rm -f $OH/opencanary.log
cd $OH && nohup $TF/oc-venv/bin/twistd -noy $TF/oc-venv/bin/opencanary.tac --pidfile $OH/twistd.pid > $TF/oc-stdout.log 2>&1 &
for i in $(seq 1 30); do ss -ltn | grep -q '127.0.0.1:27018' && break; sleep 0.5; done; sleep 1
$TF/scripts/attack_opencanary.sh
sleep 1
stop_oc
