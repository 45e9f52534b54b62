#!/bin/bash
# shellcheck disable=SC2015,SC2009,SC2012
# (SC2015: `test && ok || bad` is meant, `ok` only echoes; SC2009: `ps | grep` matches whole
# command lines, as the checks want; SC2012: `ls` of dump archives whose names pxsim made.)
# Self-test of the simulated Proxmox node: drives sim/bin/* directly (no sshd).
# Usage: sim/selftest.sh [--no-vm] (as root; needs docker.io, busybox-static, the Compose asset)
# Exit 0 when every check passes; prints one line per check. The VM part (sim/selftest_vm.sh)
# runs at the end unless `--no-vm` (tests/sim.rs runs the two parts as two tests, in parallel).
set -u
VM=1
case "${1:-}" in
    --no-vm) VM=0 ;;
    "") ;;
    *) echo "usage: $0 [--no-vm]" >&2; exit 2 ;;
esac
SIM="$(cd "$(dirname "$0")" && pwd)"
export PATH="$SIM/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STATE="$(mktemp -d /var/tmp/pxsim-selftest.XXXXXX)"
export PXSIM_STATE="$STATE"
COMPOSE_VERSION="${PXSIM_COMPOSE_VERSION:-2.40.3}"
WORK="$(mktemp -d /var/tmp/pxsim-selftest-work.XXXXXX)"
FAILS=0
T0=$(date +%s.%N)

cleanup() {
    python3 "$SIM/pve.py" cleanup --state "$STATE"
    python3 "$SIM/pve.py" cleanup --state "$STATE"   # must be safe twice
    rm -rf "$STATE" "$WORK"
}
trap cleanup EXIT

T0_US=${EPOCHREALTIME/./}
# one line per passed check, with the seconds since the start (bash's clock: no process)
ok() { local t=$(( (${EPOCHREALTIME/./} - T0_US) / 100000 )); echo "ok   $*  [$((t / 10)).$((t % 10))s]"; }
bad() { echo "FAIL $*"; FAILS=$((FAILS + 1)); }

# run CMD...: captures $OUT, $ERR, $RC
run() {
    "$@" >"$WORK/out" 2>"$WORK/err"
    RC=$?
    OUT="$(cat "$WORK/out")"
    ERR="$(cat "$WORK/err")"
}
# check NAME RC-EXPECTED [stdout-substring] [stderr-exact-or-substring]
check() {
    local name="$1" rc="$2" o="${3:-}" e="${4:-}"
    if [ "$RC" != "$rc" ]; then bad "$name: exit $RC, want $rc (stderr: $ERR)"; return; fi
    if [ -n "$o" ] && [[ "$OUT" != *"$o"* ]]; then bad "$name: stdout lacks '$o': $OUT"; return; fi
    if [ -n "$e" ] && [[ "$ERR" != *"$e"* ]]; then bad "$name: stderr lacks '$e': $ERR"; return; fi
    ok "$name"
}
elapsed() { python3 -c "import sys,time; print('%.1f' % (time.time() - float(sys.argv[1])))" "$1"; }

python3 "$SIM/pve.py" doctor --versions "$COMPOSE_VERSION" || exit 1
python3 "$SIM/pve.py" init --state "$STATE" --template-cached --compose-version "$COMPOSE_VERSION" >/dev/null

# ---------------------------------------------------------------- node-level commands
run pveversion; check "pveversion" 0 "pve-manager/9.2.11/"
[[ "$OUT" =~ ^pve-manager/9\.2\.11/[0-9a-f]+\ \(running\ kernel:\ .+\)$ ]] && ok "pveversion format" || bad "pveversion format: $OUT"
run pvesm status; check "pvesm status" 0 "local-lvm     lvmthin     active"
[[ "$(echo "$OUT" | head -1)" == "Name             Type     Status     Total (KiB)      Used (KiB) Available (KiB)        %" ]] && ok "pvesm status header" || bad "pvesm status header: $OUT"
run pvesh get /cluster/nextid; check "nextid" 0 "100"
run pveversion -v; check "pveversion -v lxc-pve line" 0 $'\nlxc-pve: 6.0.5-3\n'
run pvesh get /nodes/localhost/storage --output-format json; check "pvesh /nodes/localhost" 0 '"storage":"local-lvm"'
run pvesh get /nodes/pve/network --output-format json; check "network json" 0 '"iface":"vmbr0"'
python3 -c "import json,sys; d=json.loads(sys.argv[1]); assert any(x['iface']=='vmbr0' and x['type']=='bridge' and x['active']==1 for x in d)" "$OUT" && ok "network json shape" || bad "network json shape"
# backup jobs (more §6): jobs.cfg layout, errors, calendar events and their next run
run pvesh create /cluster/backup --id nightly-web --schedule 02:00 --vmid 100,101 --storage local --mode snapshot --compress zstd --prune-backups keep-last=3 --enabled 1 --notes-template '{{guestname}}'
check "backup job create" 0
[[ "$(cat "$STATE/etc/pve/jobs.cfg")" == "$(printf 'vzdump: nightly-web\n\tschedule 02:00\n\tcompress zstd\n\tenabled 1\n\tmode snapshot\n\tnotes-template {{guestname}}\n\tprune-backups keep-last=3\n\tstorage local\n\tvmid 100,101\n')" ]] && ok "jobs.cfg layout" || bad "jobs.cfg layout: $(cat -A "$STATE/etc/pve/jobs.cfg")"
run pvesh create /cluster/backup --id nightly-web --schedule 02:00 --vmid 100; check "backup job duplicate" 2 "" "Job 'nightly-web' already exists"
run pvesh create /cluster/backup --id x1 --schedule 'mon..fri 12:60' --vmid 100; check "bad calendar event" 2 "" "schedule: invalid format - invalid calendar event 'mon..fri 12:60' - unable to parse calendar event at '12:60' - Nom(Eof)"
run python3 "$SIM/calendar_check.py"; check "calendar events: proxmox-time's examples" 0 " 0 failures"
run pvesh create /cluster/backup --id 1x --schedule daily --vmid 100; check "bad job id" 2 "" "id: invalid format - invalid configuration ID '1x'"
run pvesh set /cluster/backup/nightly-web --prune-backups keep-last=5; check "backup job set" 0
run pvesh get /cluster/backup --output-format json; check "backup jobs json" 0 '"prune-backups":{"keep-last":"5"}'
[[ "$OUT" == *'"next-run":'* && "$OUT" == *'"enabled":1'* ]] && ok "next-run and numbers" || bad "jobs json: $OUT"
run pvesh get /cluster/jobs/schedule-analyze --schedule 'sat *-1..7 15:00' --starttime 1767225600 --iterations 2 --output-format json
check "schedule-analyze" 0
python3 -c "import json,sys,time; d=json.loads(sys.argv[1]); t=[time.localtime(x['timestamp']) for x in d]; assert [(x.tm_wday, x.tm_hour, x.tm_min) for x in t] == [(5, 15, 0)] * 2 and all(x.tm_mday <= 7 for x in t), d" "$OUT" && ok "first saturdays at 15:00" || bad "schedule-analyze: $OUT"
run pvesh delete /cluster/backup/nightly-web; check "backup job delete" 0
run pvesh delete /cluster/backup/nightly-web; check "backup job delete twice" 2 "" "No such job 'nightly-web'"
run pveam available --section system; check "pveam available (before update)" 0 "debian-12-standard_12.7-1_amd64.tar.zst"
[[ "$OUT" != *"12.12-1"* ]] && ok "12.12 only after update" || bad "12.12 listed before update"
python3 "$SIM/pve.py" set "$STATE" pveam_update_fail 1
run pveam update; check "pveam update failure exits 0" 0 "" "update failed - see /var/log/pveam.log for details"
python3 "$SIM/pve.py" unset "$STATE" pveam_update_fail
run pveam update; check "pveam update" 0 "update successful"
run pveam available --section system; check "pveam available newest" 0 "debian-12-standard_12.12-1_amd64.tar.zst"
run pveam download local no-such-template.tar.zst; check "pveam download unknown" 2 "" "template: no such template"
run pveam download local debian-12-standard_12.12-1_amd64.tar.zst; check "pveam download" 0 "download of 'http://download.proxmox.com/images/system/debian-12-standard_12.12-1_amd64.tar.zst' to '/var/lib/vz/template/cache/debian-12-standard_12.12-1_amd64.tar.zst' finished"
run pveam download local debian-12-standard_12.12-1_amd64.tar.zst; check "pveam download again" 0 "no need to download"
run pveam list local; check "pveam list" 0 "local:vztmpl/debian-12-standard_12.12-1_amd64.tar.zst"
TPL=local:vztmpl/debian-12-standard_12.12-1_amd64.tar.zst

# ---------------------------------------------------------------- create and odd exit codes
run pct create 105 local:vztmpl/debian-12-standard_12.99-1_amd64.tar.zst --rootfs local-lvm:4
check "create: missing template" 255 'Logical volume "vm-105-disk-0" successfully removed.' "unable to create CT 105 - can't find file 'local:vztmpl/debian-12-standard_12.99-1_amd64.tar.zst'"
[ ! -e "$STATE/etc/pve/nodes/pve/lxc/105.conf" ] && ok "failed create leaves no config" || bad "failed create left a config"
run pct create 105 $TPL --storage local; check "create: local has no rootdir" 2 "" "storage: storage 'local' does not support container directories"
run pct create 99 $TPL; check "create: bad vmid" 2 "" "400 Parameter verification failed."
run pct create 100 $TPL --hostname plain --rootfs local-lvm:4 --net0 name=eth0,bridge=vmbr0,ip=dhcp
check "create without nesting warns, exit 0" 0 "WARN: Systemd 252 detected. You may need to enable nesting." "Task finished with 1 warning(s)!"
run pct config 100
check "config: unprivileged default 1" 0 "unprivileged: 1"
[[ "$OUT" =~ net0:\ name=eth0,bridge=vmbr0,hwaddr=BC:24:11:[0-9A-F]{2}:[0-9A-F]{2}:[0-9A-F]{2},ip=dhcp,type=veth ]] && ok "config: net0 canonical" || bad "config: net0: $OUT"
[[ "$OUT" == *"rootfs: local-lvm:vm-100-disk-0,size=4G"* ]] && ok "config: rootfs" || bad "config: rootfs: $OUT"
run pct create 100 $TPL; check "create: id taken" 2 "" "CT 100 already exists on node 'pve'"
run pct list; check "list" 0 "100        stopped                 plain               "
run pct stop 999; check "stop missing CT" 2 "" "CT 999 not running"
run pct shutdown 999; check "shutdown missing CT" 2 "" "CT 999 not running"
run pct start 999; check "start missing CT (task)" 255 "" "Configuration file 'nodes/pve/lxc/999.conf' does not exist"
run pct status 999; check "status missing CT" 2 "" "Configuration file 'nodes/pve/lxc/999.conf' does not exist"
run pct reboot 100; check "reboot stopped" 2 "" "VM 100 not running"
run pct exec 100 -- true; check "exec stopped" 2 "" "container '100' not running!"
run pct push 100 /etc/hostname /root/x; check "push stopped" 2 "" "can only push files to a running CT"
run pct pull 100 /etc/hostname "$WORK/x"; check "pull stopped" 2 "" "can only pull files from a running VM at /usr/share/perl5/PVE/CLI/pct.pm line"
run pct unlock 100; check "unlock without lock" 2 "" "no lock found trying to remove any lock"
run pct foo; check "unknown subcommand" 255 "" "ERROR: unknown command 'pct foo'"
run pct destroy 100; check "destroy stopped CT" 0 'Logical volume "vm-100-disk-0" successfully removed.'
run pct list; check "empty list prints nothing" 0
[ -z "$OUT" ] && ok "empty list is empty" || bad "empty list: $OUT"

# ---------------------------------------------------------------- a running container
TC=$(date +%s.%N)
run pct create 101 $TPL --hostname app01 --memory 1024 --cores 2 --rootfs local-lvm:8 \
    --net0 name=eth0,bridge=vmbr0,ip=192.0.2.50/24,gw=192.0.2.1 --features nesting=1,keyctl=1 \
    --unprivileged 1 --onboot 1 --tags "Web,docker" --start 1
check "create --start 1 (nesting: no warning)" 0
[ -z "$ERR" ] && ok "no warning with nesting" || bad "unexpected stderr: $ERR"
run pct status 101; check "status running" 0 "status: running"
run pct start 101; check "start running" 2 "" "CT 101 already running"
run pct config 101; check "tags normalised" 0 "tags: docker;web"
run pct exec 101 -- hostname; check "exec hostname" 0 "app01"
run pct exec 101 -- ip -4 -o addr show dev eth0; check "static ip" 0 "inet 192.0.2.50/24"
# shellcheck disable=SC2016 # $PATH is the container's
run pct exec 101 -- sh -c 'echo "$PATH"; pwd'; check "PATH reset" 0 "/sbin:/bin:/usr/sbin:/usr/bin"
run sh -c 'printf "line1\nline2\n" | pct exec 101 -- sh -c "cat > /root/in.txt; wc -l < /root/in.txt"'; check "stdin passthrough" 0 "2"
run pct exec 101 -- sh -c 'echo out; echo err >&2; exit 7'; check "exit code + separate streams" 7 "out" "err"
[[ "$OUT" != *err* ]] && ok "stderr not merged" || bad "stderr merged into stdout"
run pct exec 101 -- no-such-command; check "exec not found = 127" 127
run pct exec 101 -- sh -c 'kill -TERM $$'; check "exec killed = 128+15" 143
run pct exec 101 -- sh -c 'command -v docker'; check "fresh CT has no docker (dash: 127)" 127
run pct exec 101 -- docker ps; check "docker: not found (127)" 127
run pct exec 101 -- ls /opt; check "own /opt (empty)" 0
[ -z "$OUT" ] && ok "/opt is the container's" || bad "/opt not empty: $OUT"
echo "hello push" > "$WORK/push.txt"
run pct push 101 "$WORK/push.txt" /root/pushed.txt --perms 600; check "push" 0
run pct exec 101 -- stat -c '%a %s' /root/pushed.txt; check "push perms" 0 "600 11"
[ -e "$STATE/ct/101/rootfs/root/pushed.txt" ] && ok "pushed file in CT rootfs" || bad "pushed file missing from rootfs"
run pct push 101 "$WORK/push.txt" /no/such/dir/x; check "push copy error exits 0" 0 "" "failed to create file: /no/such/dir/x"
run pct pull 101 /root/pushed.txt "$WORK/pulled.txt"; check "pull" 0
[ "$(cat "$WORK/pulled.txt" 2>/dev/null)" = "hello push" ] && ok "pull content" || bad "pull content"
run pct set 101 --features nesting=1; check "set features while running -> pending" 0
run pct config 101 --current 1; check "config --current shows old" 0 "features: nesting=1,keyctl=1"
grep -q '^\[pve:pending\]' "$STATE/etc/pve/nodes/pve/lxc/101.conf" && ok "pending section on disk" || bad "no pending section"
run pct set 101 --revert features; check "revert pending" 0
run pct config 101; check "pending reverted" 0 "features: nesting=1,keyctl=1"
run pct set 101 --unprivileged 0; check "unprivileged is read-only" 2 "" "unable to modify read-only option: 'unprivileged'"

# ---------------------------------------------------------------- Docker inside
TI=$(date +%s.%N)
run pct exec 101 -- sh -c 'apt-get update -qq && apt-get install -y -qq curl >/dev/null && curl -fsSL https://get.docker.com -o /root/get-docker.sh && sh /root/get-docker.sh'
check "docker install via get.docker.com stand-in" 0 "# Executing docker install script"
INSTALL_S=$(elapsed "$TI")
CREATE_TO_DOCKER_S=$(elapsed "$TC")
run pct exec 101 -- docker compose version; check "docker compose version" 0 "Docker Compose version v$COMPOSE_VERSION"
run pct exec 101 -- docker image inspect base:local --format '{{.Id}}'; check "base:local exists" 0 "sha256:"
run pct exec 101 -- systemctl is-active docker; check "systemctl is-active docker" 0 "active"

mkdir -p "$WORK/app"
cat > "$WORK/app/compose.yml" <<'EOF'
services:
  web:
    build: .
    network_mode: none
    restart: unless-stopped
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "wget", "-qO-", "http://127.0.0.1:8131/"]
      interval: 1s
      timeout: 2s
      retries: 5
  worker:
    image: base:local
    pull_policy: never
    network_mode: none
    restart: unless-stopped
    stop_grace_period: 1s
    command: ["sh", "-c", "echo pxsim-selftest-worker; exec sleep 100101"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
EOF
cat > "$WORK/app/Dockerfile" <<'EOF'
FROM base:local
RUN mkdir -p /www && echo "hello from pxsim" > /www/index.html
CMD ["httpd", "-f", "-p", "8131", "-h", "/www"]
EOF
run sh -c "tar -C '$WORK/app' -cf - . | pct exec 101 -- sh -c 'mkdir -p /opt/app && tar -C /opt/app -xf -'"
check "push app via tar over stdin" 0

wait_healthy() {  # wait_healthy VMID: both services running+healthy within 60 s
    for _ in $(seq 1 120); do
        pct exec "$1" -- docker compose --project-directory /opt/app -p app ps --format json >"$WORK/ps" 2>/dev/null
        if python3 - "$WORK/ps" <<'EOF'
import json, sys
t = open(sys.argv[1]).read().strip()
rows = json.loads(t) if t.startswith("[") else [json.loads(l) for l in t.splitlines() if l.strip()]
ok = len(rows) == 2 and all(r["State"] == "running" and r.get("Health") == "healthy" for r in rows)
sys.exit(0 if ok else 1)
EOF
        then return 0; fi
        sleep 0.5
    done
    return 1
}
TU=$(date +%s.%N)
run pct exec 101 -- env DOCKER_BUILDKIT=0 docker compose --project-directory /opt/app -p app up -d --build
check "compose up -d --build" 0
UP_S=$(elapsed "$TU")
wait_healthy 101 && ok "both services healthy" || bad "services not healthy: $(cat "$WORK/ps")"
HEALTHY_S=$(elapsed "$TU")
run pct exec 101 -- docker exec app-web-1 wget -qO- http://127.0.0.1:8131/; check "web answers" 0 "hello from pxsim"

# A unit of its own (sim/ct/systemctl): started, enabled, started again at boot.
run pct exec 101 -- sh -c 'printf "[Unit]\nDescription=selftest\n\n[Service]\nExecStart=/bin/sleep 100102\n\n[Install]\nWantedBy=multi-user.target\n" > /etc/systemd/system/pxsim-selftest.service && systemctl daemon-reload && systemctl enable --now pxsim-selftest.service'
check "a unit of its own: enable --now" 0 "" "Created symlink"
run pct exec 101 -- systemctl is-active pxsim-selftest.service; check "its unit is active" 0 "active"
run pct exec 101 -- systemctl is-active nothing-here.service; check "a unit without a file is inactive" 3 "inactive"
run pct exec 101 -- systemctl start nothing-here.service; check "a unit without a file is not found" 5 "" "Unit nothing-here.service not found."
run pct stop 101; check "pct stop" 0
sleep 0.3
if ps -eo args | grep -v grep | grep -q -e 'pxsim-selftest-worker' -e 'sleep 100101' -e 'httpd -f -p 8131 -h /www'; then
    bad "services survived pct stop: $(ps -eo pid,args | grep -e 'sleep 100101' -e 'httpd -f -p 8131' | grep -v grep)"
else ok "stop killed every service"; fi
if ps -eo args | grep -v grep | grep -q "$STATE/ct/101"; then bad "processes of CT 101 left"; else ok "no CT processes left"; fi
run pct status 101; check "status stopped" 0 "status: stopped"
TS=$(date +%s.%N)
run pct start 101; check "pct start again" 0
wait_healthy 101 && ok "services back after start (unless-stopped)" || bad "services not back: $(cat "$WORK/ps")"
RESTART_S=$(elapsed "$TS")
run pct exec 101 -- cat /root/pushed.txt; check "files persist across restart" 0 "hello push"
run pct exec 101 -- systemctl is-active pxsim-selftest.service; check "an enabled unit starts at boot" 0 "active"
run pct exec 101 -- systemctl disable --now pxsim-selftest.service; check "disable --now" 0
run pct exec 101 -- systemctl is-active pxsim-selftest.service; check "stopped by disable --now" 3 "inactive"

python3 "$SIM/pve.py" set "$STATE" ignore_shutdown.101 1
run pct shutdown 101 --timeout 2; check "shutdown ignored -> container did not stop" 255 "command 'lxc-stop -n 101 --nokill --timeout 2' failed" "container did not stop"
python3 "$SIM/pve.py" unset "$STATE" ignore_shutdown.101
run pct shutdown 101 --timeout 30; check "graceful shutdown" 0
run pct status 101; check "stopped after shutdown" 0 "status: stopped"
run pct start 101; check "start after shutdown" 0
wait_healthy 101 && ok "services back after graceful shutdown" || bad "services not back after shutdown"

# ---------------------------------------------------------------- backups
run vzdump 101 --storage local --mode snapshot --compress zstd --prune-backups keep-last=2 --notes-template '{{guestname}} ({{vmid}})'
check "vzdump" 0 "INFO: creating vzdump archive '/var/lib/vz/dump/vzdump-lxc-101-"
[[ "$OUT" == *"INFO: Backup job finished successfully"* && "$OUT" == *"INFO: adding notes to backup"* ]] && ok "vzdump output" || bad "vzdump output: $OUT"
run vzdump 101 --storage local --mode snapshot --compress zstd --prune-backups keep-last=2; check "vzdump 2 (same second ok)" 0
run vzdump 101 --storage local --mode snapshot --compress zstd --prune-backups keep-last=2
check "vzdump 3 prunes" 0 "INFO: pruned 1 backup(s) not covered by keep-retention policy"
[[ "$OUT" == *"INFO: removing backup 'local:backup/vzdump-lxc-101-"* ]] && ok "removing backup line" || bad "no removing line: $OUT"
run pvesm list local --content backup --vmid 101; check "pvesm list" 0 "tar.zst backup"
N=$(echo "$OUT" | grep -c 'vzdump-lxc-101-')
[ "$N" = 2 ] && ok "retention kept 2" || bad "retention: $N backups: $OUT"
[ "$(echo "$OUT" | head -1 | awk '{print $1,$2,$3,$4,$5}')" = "Volid Format Type Size VMID" ] && ok "pvesm list header" || bad "pvesm list header"
ls "$STATE"/var/lib/vz/dump/*.tar.zst >/dev/null 2>&1 && ok "archive exists" || bad "no archive"
A=$(ls "$STATE"/var/lib/vz/dump/*.tar.zst | head -1)
zstd -dc "$A" | tar -tf - | grep -q '^./etc/vzdump/pct.conf$' && ok "archive has ./etc/vzdump/pct.conf" || bad "archive lacks pct.conf"
run pct config 101; [[ "$OUT" != *"lock:"* ]] && ok "lock removed after backup" || bad "lock left: $OUT"
python3 "$SIM/pve.py" set "$STATE" vzdump_fail "simulated failure"
run vzdump 101 --storage local --compress zstd; check "vzdump failure" 255 "ERROR: Backup of VM 101 failed - simulated failure" "job errors"
python3 "$SIM/pve.py" unset "$STATE" vzdump_fail
run vzdump 999 --storage local; check "vzdump unknown vmid" 255 "ERROR: Backup of VM 999 failed - unable to find VM '999'" "job errors"
run pvesh get /cluster/resources --type vm --output-format json; check "cluster resources" 0 '"id":"lxc/101"'
python3 "$SIM/pve.py" set "$STATE" vzdump_delay 3
vzdump 101 --storage local --compress zstd >"$WORK/bg.out" 2>&1 &
BG=$!
for _ in $(seq 1 50); do pct list | grep -q '^101 .* backup ' && break; sleep 0.1; done
run pct list; check "lock shown during backup" 0 "101        running    backup       app01"
run pct set 101 --memory 2048; check "set refused while locked" 2 "" "CT is locked (backup)"
run pct shutdown 101; check "shutdown refused while locked (task)" 255 "" "CT is locked (backup)"
run pct exec 101 -- true; check "exec works while locked" 0
wait $BG && ok "background vzdump finished" || bad "background vzdump failed: $(cat "$WORK/bg.out")"
python3 "$SIM/pve.py" unset "$STATE" vzdump_delay

# ---------------------------------------------------------------- snapshots (reference more §1)
run pct exec 101 -- sh -c 'echo one > /root/snapdata'; check "write data before snapshot" 0
run pct snapshot 101 before-change; check "snapshot a running CT (lvmthin)" 0 '  Logical volume "snap_vm-101-disk-0_before-change" created.'
run pct status 101; check "still running after snapshot" 0 "status: running"
run pct exec 101 -- sh -c 'echo two > /root/snapdata'; check "write data after snapshot" 0
run pct snapshot 101 after-change --description "post upgrade"; check "second snapshot" 0
run pct snapshot 101 after-change; check "snapshot name taken" 255 "" "snapshot name 'after-change' already used"
run pct snapshot 101 1abc; check "snapshot bad name" 2 "" "snapname: invalid format - invalid configuration ID '1abc'"
[[ "$ERR" == *"'1abc'"$'\n\n'"pct snapshot <vmid> <snapname> [OPTIONS]"* ]] && ok "bad name: empty line before usage" || bad "bad name stderr: $ERR"
run pct snapshot 101 current; check "reserved snapshot name" 2 "" "unable to use snapshot name 'current' (reserved name)"
run pct listsnapshot 101; check "listsnapshot" 0 "You are here!"
L1=$(echo "$OUT" | sed -n 1p); L2=$(echo "$OUT" | sed -n 2p); L3=$(echo "$OUT" | sed -n 3p)
[[ "$L1" =~ ^\`-\>\ before-change\ {15}[0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9:]{8}\ {5}no-description$ ]] && ok "listsnapshot root line" || bad "listsnapshot line 1: '$L1'"
[[ "$L2" =~ ^\ \`-\>\ after-change\ {15}[0-9-]{10}\ [0-9:]{8}\ {5}post\ upgrade$ ]] && ok "listsnapshot child line" || bad "listsnapshot line 2: '$L2'"
[ "$L3" = '  `-> current                                           You are here!' ] && ok "listsnapshot current line" || bad "listsnapshot line 3: '$L3'"
C="$STATE/etc/pve/nodes/pve/lxc/101.conf"
grep -q '^parent: after-change$' "$C" && grep -q '^\[after-change\]$' "$C" && grep -q '^#post upgrade$' "$C" && ok "snapshot sections in the config" || bad "config: $(cat "$C")"
run pct rollback 101 no-such; check "rollback unknown snapshot" 255 "" "snapshot 'no-such' does not exist"
run pct rollback 101 before-change; check "rollback (lvmthin: any snapshot)" 0 '  Logical volume "vm-101-disk-0" successfully removed.'
run pct status 101; check "rollback leaves the CT stopped" 0 "status: stopped"
[ "$(cat "$STATE/ct/101/rootfs/root/snapdata")" = one ] && ok "rollback brought the data back" || bad "data after rollback: $(cat "$STATE/ct/101/rootfs/root/snapdata")"
grep -q '^parent: before-change$' "$C" && ok "parent after rollback" || bad "parent after rollback: $(cat "$C")"
run pct rollback 101 after-change --start 1; check "rollback --start 1" 0
run pct status 101; check "running after rollback --start 1" 0 "status: running"
run pct exec 101 -- cat /root/snapdata; check "newer snapshot's data" 0 "two"
run pct delsnapshot 101 before-change; check "delsnapshot" 0 '  Logical volume "snap_vm-101-disk-0_before-change" successfully removed.'
grep -q '^\[before-change\]' "$C" && bad "section left after delsnapshot" || ok "section removed"
grep -A20 '^\[after-change\]' "$C" | grep -q '^parent:' && bad "child still points at the deleted snapshot" || ok "child re-linked"
run pct delsnapshot 101 before-change; check "delsnapshot unknown" 255 "" "snapshot 'before-change' does not exist"
run pct delsnapshot 101 after-change; check "delsnapshot last" 0
run pct listsnapshot 101; check "listsnapshot without snapshots" 0 '`-> current                                             You are here!'
python3 "$SIM/pve.py" set "$STATE" local_rootdir 1
python3 "$SIM/pve.py" set "$STATE" storage_zfs 1
run pct create 106 $TPL --hostname dirct --rootfs local:4 --features nesting=1; check "create on local (dir)" 0
run pct snapshot 106 s1; check "dir storage cannot snapshot" 255 "" "snapshot feature is not available"
grep -q '^lock:\|^\[s1\]' "$STATE/etc/pve/nodes/pve/lxc/106.conf" && bad "refused snapshot changed the config" || ok "refused snapshot changed nothing"
run pct create 107 $TPL --hostname zfsct --rootfs local-zfs:4 --features nesting=1; check "create on local-zfs" 0
run pct config 107; check "zfs subvol" 0 "rootfs: local-zfs:subvol-107-disk-0,size=4G"
run pct snapshot 107 first; check "zfs snapshot 1" 0
run pct snapshot 107 second; check "zfs snapshot 2" 0
run pct rollback 107 first; check "zfs: only the newest" 255 "" "can't rollback, 'first' is not most recent snapshot on 'local-zfs:subvol-107-disk-0'"
run pct rollback 107 second; check "zfs rollback newest" 0
run pct destroy 106; check "destroy 106" 0
run pct destroy 107; check "destroy 107" 0
python3 "$SIM/pve.py" unset "$STATE" local_rootdir
python3 "$SIM/pve.py" unset "$STATE" storage_zfs

# ---------------------------------------------------------------- destroy
run pct destroy 101; check "destroy running" 2 "" "unable to destroy CT 101 - container is running"
run sh -c 'echo "cat /etc/hostname" | pct enter 101'; check "pct enter reads commands from stdin" 0
run pct set 101 --protection 1; check "set protection" 0
run pct stop 101; check "stop" 0
run vzdump 101 --storage local --compress gzip; check "vzdump of a stopped CT" 0 "INFO: backup mode: stop"
GZ=$(ls "$STATE"/var/lib/vz/dump/vzdump-lxc-101-*.tar.gz | tail -1); GZV="local:backup/$(basename "$GZ")"
run pct restore 101 "$GZV" --force 1 --storage local-lvm; check "restore protected" 2 "" "unable to restore CT 101 - protection mode enabled"
run pct set 101 --protection 0; check "unprotect for restore" 0
echo changed > "$STATE/ct/101/rootfs/root/snapdata"
run pct restore 101 "$GZV" --storage local-lvm; check "restore without --force" 2 "" "CT 101 already exists on node 'pve'"
run pct restore 101 "$GZV" --force 1; check "restore to local (no rootdir)" 2 "" "storage: storage 'local' does not support container directories"
run pct restore 101 local:backup/vzdump-lxc-101-2020_01_01-00_00_00.tar.zst --force 1 --storage local-lvm
check "restore missing archive (CT kept)" 255 "" "unable to restore CT 101 - can't find file 'local:backup/vzdump-lxc-101-2020_01_01-00_00_00.tar.zst'"
run pct config 101; [[ $RC = 0 && "$OUT" != *"lock:"* ]] && ok "CT and config kept, no lock" || bad "after failed early restore: $OUT"
run pct restore 101 "$GZV" --force 1 --storage local-lvm
check "restore --force" 0 "recovering backed-up configuration from '$GZV'"
[[ "$OUT" == *"merging backed-up and given configuration.."* && "$OUT" == *'Logical volume "vm-101-disk-0" successfully removed.'* ]] && ok "restore output" || bad "restore output: $OUT"
[ "$(cat "$STATE/ct/101/rootfs/root/snapdata")" = two ] && ok "restore brought the data back" || bad "data after restore: $(cat "$STATE/ct/101/rootfs/root/snapdata")"
run pct config 101; check "restored config (new disk, protection from backup)" 0 "rootfs: local-lvm:vm-101-disk-1,size=8G"
[[ "$OUT" == *"protection: 1"* ]] && ok "backed-up keys restored" || bad "restored config: $OUT"
run pct start 101; check "start restored CT" 0
run pct restore 101 "$GZV" --force 1 --storage local-lvm; check "restore running" 2 "" "can't overwrite running container"
run pct stop 101; check "stop restored" 0
run pct destroy 101 --purge 1; check "destroy protected" 2 "" "can't remove CT 101 - protection mode enabled"
run pct set 101 --protection 0; check "unset protection" 0
mkdir -p "$STATE/etc/pve/firewall" && printf '[OPTIONS]\n\nenable: 1\n\n' > "$STATE/etc/pve/firewall/101.fw"
run pvesh create /cluster/backup --id only-101 --schedule 02:00 --vmid 101; check "job of 101 alone" 0
run pvesh create /cluster/backup --id shared --schedule 02:00 --vmid 101,330; check "job of 101 and 330" 0
run pvesh create /cluster/backup --id all-but --schedule 02:00 --all 1 --exclude 101; check "job excluding 101" 0
run ha-manager add ct:101 --state stopped; check "HA resource of 101" 0
run pct destroy 101; check "destroy HA without purge" 2 "" "unable to remove CT 101 - used in HA resources and purge parameter not set."
run pct destroy 101 --purge 1; check "destroy" 0 "purging CT 101 from related configurations.."
[[ "$OUT" == *"NOTE: removed CT 101 from HA resource configuration."* ]] && ok "purge: HA note" || bad "purge output: $OUT"
[ ! -e "$STATE/etc/pve/firewall/101.fw" ] && ok "purge: firewall file removed" || bad "firewall file left"
run pvesh get /cluster/backup --output-format json
[[ "$OUT" != *only-101* && "$OUT" == *'"id":"shared"'*'"vmid":"330"'* && "$OUT" != *'"exclude"'* ]] && ok "purge: backup jobs" || bad "jobs after purge: $OUT"
run ha-manager config; [[ "$OUT" != *"ct:101"* ]] && ok "purge: HA resource removed" || bad "HA after purge: $OUT"
run pvesh delete /cluster/backup/shared; run pvesh delete /cluster/backup/all-but
[ ! -e "$STATE/ct/101" ] && ok "CT folder removed" || bad "CT folder left"

# ---------------------------------------------------------------- a failed forced restore leaves no CT
run pct create 108 $TPL --hostname rfail --rootfs local-lvm:4 --features nesting=1; check "create 108" 0
run vzdump 108 --storage local --compress zstd; check "vzdump 108" 0
V108="local:backup/$(basename "$(ls "$STATE"/var/lib/vz/dump/vzdump-lxc-108-*.tar.zst | tail -1)")"
python3 "$SIM/pve.py" set "$STATE" restore_fail "simulated restore failure"
run pct restore 108 "$V108" --force 1 --storage local-lvm; check "restore failure" 255 "" "unable to restore CT 108 - simulated restore failure"
python3 "$SIM/pve.py" unset "$STATE" restore_fail
[ ! -e "$STATE/etc/pve/nodes/pve/lxc/108.conf" ] && [ ! -e "$STATE/ct/108" ] && ok "failed forced restore leaves no CT" || bad "CT 108 left after failed restore"
run pct restore 108 "$V108" --storage local-lvm; check "restore into a free vmid" 0
run pct destroy 108; check "destroy 108" 0

# ---------------------------------------------------------------- Docker without nesting fails like on Proxmox
run pct create 104 $TPL --hostname nonest --rootfs local-lvm:4 --net0 name=eth0,bridge=vmbr0,ip=dhcp --start 1
check "create+start without nesting (2 warnings)" 0 "" "Task finished with 2 warning(s)!"
run pct exec 104 -- sh -c 'apt-get update -qq && apt-get install -y -qq docker.io docker-compose-plugin >/dev/null'
check "apt install docker.io + compose plugin" 0
run pct exec 104 -- docker run --rm base:local true
check "docker run without nesting fails (126)" 126 "" 'error mounting "proc" to rootfs at "/proc"'
run pct stop 104; check "stop 104" 0
run pct destroy 104; check "destroy 104" 0

# ---------------------------------------------------------------- DHCP, reboot
run pct create 102 $TPL --hostname dhcp01 --rootfs local-lvm:4 --net0 name=eth0,bridge=vmbr0,ip=dhcp --features nesting=1
check "create dhcp CT" 0
run pct start 102; check "start dhcp CT" 0
for _ in $(seq 1 50); do pct exec 102 -- ip -4 -o addr show dev eth0 | grep -q 'inet 192.0.2.' && break; sleep 0.2; done
run pct exec 102 -- ip -4 -o addr show dev eth0; check "dhcp address appears" 0 "inet 192.0.2."
run pct reboot 102; check "reboot" 0
run pct status 102; check "running after reboot" 0 "status: running"
# a locked CT: real vm_reboot stops it without a lock check, the pre-start hook refuses the start
run pct set 102 --lock backup; check "set lock" 0
run pct reboot 102; check "reboot of a locked CT fails its start" 255 "Failed to run lxc.hook.pre-start" "startup for container '102' failed"
run pct status 102; check "locked CT stopped by the reboot" 0 "status: stopped"
run pct unlock 102; check "unlock 102" 0
# HA (more §4): vzdump's stop mode refused, a failed start goes starting -> error
python3 "$SIM/pve.py" set "$STATE" ha_delay.102 1 >/dev/null
run ha-manager add ct:102 --state stopped; check "ha add 102" 0
run vzdump 102 --storage local --mode stop; check "vzdump stop mode of a stopped HA CT" 0
python3 "$SIM/pve.py" set "$STATE" start_fail.102 1 >/dev/null
run ha-manager set ct:102 --state started; check "ha set started" 0
run vzdump 102 --storage local --mode stop
check "vzdump stop mode of a started HA CT refused" 255 "ERROR: Backup of VM 102 failed - Cannot execute a backup with stop mode on a HA managed and enabled Service. Use snapshot mode or disable the Service." "job errors"
run ha-manager status; check "ha: starting while the request is young" 0 "service ct:102 (pve, starting)"
sleep 1.2
run ha-manager status; check "ha: a failed start is error" 0 "service ct:102 (pve, error)"
python3 "$SIM/pve.py" unset "$STATE" start_fail.102 >/dev/null
run ha-manager set ct:102 --state started; sleep 1.2
run ha-manager status; check "ha: error is kept when started is asked again" 0 "service ct:102 (pve, error)"
run ha-manager set ct:102 --state disabled; sleep 1.2
run ha-manager status; check "ha: disabled clears the error" 0 "service ct:102 (pve, disabled)"
run ha-manager remove ct:102; check "ha remove 102" 0
run pct create 103 $TPL --rootfs local-lvm:4 --net0 name=eth0,bridge=vmbr9,ip=dhcp --features nesting=1
run pct start 103; check "start with missing bridge fails" 255 "" "bridge 'vmbr9' does not exist"

# ---------------------------------------------------------------- calls.log
python3 - "$STATE/calls.log" <<'EOF' && ok "calls.log is JSON lines with argv, exit and the SSH connection" || bad "calls.log"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) > 50, len(lines)
assert all(set(l) == {"time", "argv", "exit", "ssh"} for l in lines)
assert any(l["argv"][:2] == ["pct", "create"] and l["exit"] == 255 for l in lines)
assert any(l["argv"][:3] == ["pct", "exec", "101"] and l["exit"] == 127 for l in lines)
EOF

# VMs (qm, cloud-init, the agent, the VM's own sshd, download-url, vzdump/qmrestore of a VM)
if [ "$VM" = 1 ]; then
    VM_T0=$(date +%s.%N)
    if "$SIM/selftest_vm.sh"; then ok "VM self-test (sim/selftest_vm.sh)"; else bad "VM self-test (sim/selftest_vm.sh)"; fi
    VM_S="$(elapsed "$VM_T0")s"
else
    VM_S="not run (--no-vm)"
fi

echo
echo "timings: create+start+docker install ${CREATE_TO_DOCKER_S}s (install alone ${INSTALL_S}s);"
echo "         compose up -d --build ${UP_S}s, healthy after ${HEALTHY_S}s; start -> healthy again ${RESTART_S}s;"
echo "         VM self-test ${VM_S}; whole self-test $(elapsed "$T0")s"
if [ "$FAILS" -gt 0 ]; then echo "$FAILS check(s) FAILED"; exit 1; fi
echo "all checks passed"
