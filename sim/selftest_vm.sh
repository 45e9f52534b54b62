#!/bin/bash
# shellcheck disable=SC2015,SC2054,SC2010,SC2009
# (SC2015: `test && ok || bad` is meant; SC2054: commas inside qm options; SC2010: ls of dump names pxsim made; SC2009: ps | grep of whole command lines.)
# Self-test of the simulated node's VMs (qm, cloud-init, the guest agent, download-url,
# vzdump/qmrestore of a VM, a VM on a launched node). What tests/vm.rs makes end to end
# through pxdeploy (SSH to the VM with its pinned host key, directly and through a node's
# sshd; a Docker container in the VM; another host key refused) is not repeated here.
# Called by sim/selftest.sh (not with --no-vm) and by tests/sim.rs; alone: as root,
#   sim/selftest_vm.sh            (exit 0 when every check passes; one line per check)
set -u
SIM="$(cd "$(dirname "$0")" && pwd)"
export PATH="$SIM/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STATE="$(mktemp -d /var/tmp/pxsim-selftest-vm.XXXXXX)"
export PXSIM_STATE="$STATE"
WORK="$(mktemp -d /var/tmp/pxsim-selftest-vm-work.XXXXXX)"
FAILS=0
cleanup() {
    python3 "$SIM/pve.py" cleanup --state "$STATE"
    [ -n "${HTTP_PID:-}" ] && kill "$HTTP_PID" 2>/dev/null
    rm -rf "$STATE" "$WORK"
}
trap cleanup EXIT
T0_US=${EPOCHREALTIME/./}
# one line per passed check, with the seconds since the start (bash's clock: no process)
ok() { local t=$(( (${EPOCHREALTIME/./} - T0_US) / 100000 )); echo "ok   $*  [$((t / 10)).$((t % 10))s]"; }
bad() { echo "FAIL $*"; FAILS=$((FAILS + 1)); }
run() { "$@" >"$WORK/out" 2>"$WORK/err"; RC=$?; OUT="$(cat "$WORK/out")"; ERR="$(cat "$WORK/err")"; }
check() {
    local name="$1" rc="$2" o="${3:-}" e="${4:-}"
    if [ "$RC" != "$rc" ]; then bad "$name: exit $RC, want $rc (stderr: $ERR)"; return; fi
    if [ -n "$o" ] && [[ "$OUT" != *"$o"* ]]; then bad "$name: stdout lacks '$o': $OUT"; return; fi
    if [ -n "$e" ] && [[ "$ERR" != *"$e"* ]]; then bad "$name: stderr lacks '$e': $ERR"; return; fi
    ok "$name"
}
json() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print($1)" "$OUT"; }

python3 "$SIM/pve.py" init --state "$STATE" >/dev/null

# ---------------------------------------------------------------- the image: download-url
B=https://cloud.debian.org/images/cloud/bookworm/latest
run curl -fsSL "$B/SHA512SUMS"; check "catalogue checksum list (node curl)" 0 "debian-12-genericcloud-amd64.qcow2"
SUM="$(echo "$OUT" | awk '$2=="debian-12-genericcloud-amd64.qcow2"{print $1}')"
run curl -fsS https://example.com/; check "no internet from the node" 6 "" "curl: (6) Could not resolve host: example.com"
run pvesm status --content import; check "pvesm status --content import" 0 "local "
run pvesh create /nodes/pve/storage/local/download-url --url "$B/debian-12-genericcloud-amd64.qcow2" \
    --filename debian-12-genericcloud-amd64.qcow2 --content import --checksum "$SUM" --checksum-algorithm sha512
check "download-url" 0 "calculating checksum...OK, checksum verified"
[[ "$OUT" =~ UPID:pve:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:download:debian-12-genericcloud-amd64.qcow2:root@pam:$ ]] && ok "download-url UPID" || bad "download-url UPID: $OUT"
run pvesh create /nodes/pve/storage/local/download-url --url "$B/debian-12-genericcloud-amd64.qcow2" \
    --filename debian-12-genericcloud-amd64.qcow2 --content import --checksum "$SUM" --checksum-algorithm sha512
check "download-url again" 0 "OK, got correct file already, no need to download"
run pvesh create /nodes/pve/storage/local/download-url --url "$B/debian-12-genericcloud-amd64.qcow2" \
    --filename other.qcow2 --content import --checksum 00 --checksum-algorithm sha512
check "download-url checksum mismatch: still exit 0" 0 "" "checksum mismatch: got '$SUM' != expect '00'"
UPID="$(echo "$OUT" | tail -1)"
run pvesh get "/nodes/pve/tasks/$UPID/status" --output-format json
check "failed download's task status" 0 '"status":"stopped"'
[[ "$(json 'd["exitstatus"]')" == "checksum mismatch: got '$SUM' != expect '00'" ]] && ok "task exitstatus" || bad "task exitstatus: $OUT"
[ ! -e "$STATE/var/lib/vz/import/other.qcow2" ] && ok "no file after a mismatch" || bad "other.qcow2 exists"
mkdir -p "$WORK/www" && cp "$STATE/var/lib/vz/import/debian-12-genericcloud-amd64.qcow2" "$WORK/www/img.qcow2"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$WORK/www" >/dev/null 2>&1 &
HTTP_PID=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/" >/dev/null && break; sleep 0.1; done
run pvesh create /nodes/pve/storage/local/download-url --url "http://127.0.0.1:$PORT/img.qcow2" \
    --filename local-http.qcow2 --content import
check "download-url from a local HTTP server" 0 "download of 'http://127.0.0.1:$PORT/img.qcow2' to '/var/lib/vz/import/local-http.qcow2' finished"
run pvesh create /nodes/pve/storage/local/download-url --url "http://127.0.0.1:$PORT/img.qcow2" --filename x.img --content import
check "download-url import filename rule" 2 "" "filename: invalid filename or wrong extension"

# ---------------------------------------------------------------- create with user-data, start
ssh-keygen -q -t ed25519 -N '' -C client -f "$WORK/client"
ssh-keygen -q -t ed25519 -N '' -C root@app1 -f "$WORK/hostkey"
SN="$STATE/var/lib/vz/snippets"
{
    echo "#cloud-config"
    echo "hostname: app1"
    echo "users:"
    echo "  - name: pxdeploy"
    echo "    sudo: \"ALL=(ALL) NOPASSWD:ALL\""
    echo "    shell: /bin/bash"
    echo "    lock_passwd: true"
    echo "    ssh_authorized_keys: [\"$(cat "$WORK/client.pub")\"]"
    echo "ssh_deletekeys: true"
    echo "ssh_genkeytypes: []"
    echo "ssh_keys:"
    echo "  ed25519_private: |"
    sed 's/^/    /' "$WORK/hostkey"
    echo "  ed25519_public: $(cat "$WORK/hostkey.pub")"
    echo "package_update: true"
    echo "packages: [qemu-guest-agent, curl, ca-certificates]"
    echo "write_files:"
    echo "  - path: /etc/app.conf"
    echo "    content: |"
    echo "      greeting: hello"
    echo "    permissions: '0600'"
    echo "runcmd:"
    echo "  - [systemctl, start, qemu-guest-agent]"
    echo "  - [sh, -c, \"curl -fsSL https://get.docker.com | sh\"]"
    echo "  - [usermod, -aG, docker, pxdeploy]"
} >"$SN/pxdeploy-220-user.yaml"
printf 'instance-id: pxdeploy-220-5eed\nlocal-hostname: app1\n' >"$SN/pxdeploy-220-meta.yaml"
CREATE=(qm create 220 --name app1 --ostype l26 --cores 2 --memory 2048 --cpu x86-64-v2-AES
    --scsihw virtio-scsi-single --scsi0 local-lvm:0,import-from=local:import/debian-12-genericcloud-amd64.qcow2
    --ide2 local-lvm:cloudinit --boot order=scsi0 --serial0 socket --vga serial0 --agent enabled=1
    --net0 virtio,bridge=vmbr0,firewall=1 --ipconfig0 ip=dhcp --ciupgrade 0 --onboot 1 --tags pxdeploy
    --cicustom user=local:snippets/pxdeploy-220-user.yaml,meta=local:snippets/pxdeploy-220-meta.yaml)
run qm guest cmd 220 ping; check "guest cmd: missing VM" 2 "" "Configuration file 'nodes/pve/qemu-server/220.conf' does not exist"
run pct create 220 local:vztmpl/none.tar.zst; run qm create 220 --scsi0 local-lvm:8,import-from=local:import/x.qcow2
check "import-from syntax" 2 "" "scsi0: 'import-from' requires special syntax - use <storage ID>:0,import-from=<source>"
run "${CREATE[@]}" --start 1
check "qm create --start 1" 0 "scsi0: successfully created disk 'local-lvm:vm-220-disk-0,size=3G'"
[[ "$OUT" == *"ide2: successfully created disk 'local-lvm:vm-220-cloudinit,media=cdrom'"* && "$OUT" == *"generating cloud-init ISO"* ]] && ok "create lines" || bad "create lines: $OUT"
run "${CREATE[@]}"; check "vmid clash" 2 "" "unable to create VM 220 - VM 220 already exists on node 'pve'"
run qm config 220; check "qm config" 0 "cicustom: user=local:snippets/pxdeploy-220-user.yaml"
MAC="$(echo "$OUT" | sed -n 's/^net0: virtio=\([0-9A-F:]*\),bridge=vmbr0,firewall=1$/\1/p')"
[[ "$MAC" =~ ^BC:24:11:[0-9A-F]{2}:[0-9A-F]{2}:[0-9A-F]{2}$ ]] && ok "generated MAC" || bad "net0: $OUT"
run qm status 220; check "qm status" 0 "status: running"
# The agent runs once cloud-init has installed and started it, a moment after `qm start`:
# like a real client (pxdeploy's "Waiting for the guest agent"), ask until it answers.
for _ in $(seq 600); do run qm guest cmd 220 ping; [ "$RC" = 0 ] && break; sleep 0.1; done
check "guest agent answers after the start" 0
run qm guest exec 220 --timeout 60 -- cloud-init status --wait --format json
check "cloud-init status --wait via the agent" 0 '"exitcode" : 0'
[[ "$OUT" == *'\"status\": \"done\"'* ]] && ok "cloud-init done" || bad "cloud-init: $OUT"
run qm guest cmd 220 network-get-interfaces
ADDR="$(json '[i for i in d if i.get("hardware-address") == "'"${MAC,,}"'"][0]["ip-addresses"][0]["ip-address"]')"
[[ "$ADDR" =~ ^127\.0\.20[0-7]\.[0-9]+$ ]] && ok "address from the agent by MAC: $ADDR" || bad "address: $OUT"
# The LAN lease (DHCP in the VM) comes a moment after cloud-init: ask until it is listed.
for _ in $(seq 300); do
    LAN="$(json '[a["ip-address"] for i in d if i.get("hardware-address") == "'"${MAC,,}"'" for a in i["ip-addresses"]][1:]')"
    [[ "$LAN" == "[]" ]] || break
    sleep 0.1; run qm guest cmd 220 network-get-interfaces
done
[[ "$LAN" =~ ^\[\'192\.0\.2\.[0-9]+\'\]$ ]] && ok "the VM's LAN lease on vmbr0, listed after it: $LAN" || bad "LAN lease: $OUT"
# (SSH to the VM with its pinned host key, a Docker container in it and another host key
# refused: tests/vm.rs makes these end to end through pxdeploy.)
run qm guest exec 220 -- sh -c 'command -v dockerd; hostname; cat /etc/app.conf'
check "Docker installed by runcmd" 0 "/usr/sbin/dockerd"
[[ "$OUT" == *'app1\ngreeting: hello'* ]] && ok "hostname and write_files" || bad "hostname, /etc/app.conf: $OUT"
run qm guest exec 220 -- sh -c 'echo out; echo err >&2; exit 3'
check "guest exec: exit 0 whatever the code" 0 '"exitcode" : 3'
[[ "$OUT" == *'"err-data" : "err\n"'* && "$OUT" == *'"out-data" : "out\n"'* ]] && ok "guest exec streams" || bad "exec: $OUT"
run qm guest exec 220 --timeout 1 -- sleep 3; check "guest exec timeout" 0 '"pid" :' "timeout reached, returning pid"
run qm guest cmd 220 fsfreeze-status; check "fsfreeze-status" 0 "thawed"
run pvesh get /nodes/pve/qemu/220/agent/network-get-interfaces --output-format json
check "pvesh agent wraps in result" 0 '{"result":['
run pvesh get /nodes/pve/qemu/220/status/current --output-format json
check "status/current" 0 '"qmpstatus":"running"'
[[ "$(json 'd["cpu"], d["disk"], d["maxdisk"], sep=" "')" == "0 0 3221225472" ]] && ok "cpu 0, disk 0, maxdisk" || bad "status/current: $OUT"
run pvesh get /cluster/resources --type vm --output-format json; check "cluster resources" 0 '"id":"qemu/220"'

# ---------------------------------------------------------------- cloud-init error, agent texts
qm create 223 --ide2 local-lvm:cloudinit --cicustom user=local:snippets/missing.yaml >/dev/null
run qm start 223; check "a missing snippet fails the start" 255 "generating cloud-init ISO" "can't find file 'local:snippets/missing.yaml'"
run qm destroy 223; check "destroy 223" 0
printf '#cloud-config\nruncmd:\n  - [sh, -c, "echo boom; exit 7"]\n' >"$SN/bad.yaml"
qm create 221 --agent 1 --net0 virtio,bridge=vmbr0 --ipconfig0 ip=127.0.211.9/8 --ide2 local-lvm:cloudinit \
    --cicustom user=local:snippets/bad.yaml >/dev/null
run qm guest cmd 221 ping; check "agent: VM not running" 2 "" "VM 221 is not running"
run qm start 221; check "start without the agent installed" 0 "generating cloud-init ISO"
run qm guest cmd 221 ping; check "agent: not running" 2 "" "QEMU guest agent is not running"
python3 - "$STATE" <<'PY'
import json, sys, time
st = sys.argv[1]
pid = json.load(open(f"{st}/ct/221/run.json"))["init_pid"]
for _ in range(600):
    try:
        if json.load(open(f"/proc/{pid}/root/run/cloud-init/status.json"))["status"] in ("done", "error"):
            break
    except (OSError, ValueError):
        pass
    time.sleep(0.1)
PY
[[ "$(cat "$STATE/ct/221/rootfs/var/log/cloud-init-output.log")" == *boom* ]] && ok "runcmd output in cloud-init-output.log" || bad "log"
grep -q '"status": "error"' "/proc/$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["init_pid"])' "$STATE/ct/221/run.json")/root/run/cloud-init/status.json" && ok "cloud-init status error" || bad "status not error"
run qm set 221 --delete agent; run qm guest cmd 221 ping; check "agent: not configured" 2 "" "No QEMU guest agent configured"
run qm stop 221; check "qm stop" 0
run qm stop 221; check "qm stop of a stopped VM" 0
run qm reboot 221; check "reboot a stopped VM" 2 "" "VM 221 not running"
run qm destroy 221; check "destroy 221" 0

# ---------------------------------------------------------------- snapshot, backup, restore
run qm snapshot 220 s1 --description first; check "qm snapshot" 0 'Logical volume "snap_vm-220-disk-0_s1" created.'
qm guest exec 220 -- sh -c 'echo later >/root/marker' >/dev/null
run qm listsnapshot 220; check "listsnapshot" 0 "first"
run qm rollback 220 s1; check "rollback" 0
run qm status 220; check "rollback leaves it stopped" 0 "status: stopped"
[ ! -e "$STATE/ct/220/rootfs/root/marker" ] && ok "rollback restored the data" || bad "marker survived"
run qm delsnapshot 220 s1; check "delsnapshot" 0
run qm disk resize 220 scsi0 +2G; check "disk resize +2G" 0
run qm config 220; check "resized" 0 "scsi0: local-lvm:vm-220-disk-0,size=5G"
run qm resize 220 scsi0 4G; check "shrinking refused, exit 0" 0 "" "shrinking disks is not supported"
run qm disk resize 220 ide2 +1G; check "a cdrom cannot be resized" 0 "" "you can't resize a cdrom"
run qm disk import 220 /var/lib/vz/import/local-http.qcow2 local-lvm
check "qm disk import" 0 "unused0: successfully imported disk 'local-lvm:vm-220-disk-1'"
run qm cloudinit dump 220 user; check "cloudinit dump (generated, cicustom ignored)" 0 $'#cloud-config\nhostname: app1\nmanage_etc_hosts: true\nfqdn: app1\nchpasswd:\n  expire: False\nusers:\n  - default'
run qm set 220 --memory 1024 --delete unused0; check "qm set" 0 "update VM 220: -memory 1024 -delete unused0"
run vzdump 220 --storage local --compress zstd --mode snapshot
check "vzdump of a stopped VM" 0 "INFO: starting kvm to execute backup task"
[[ "$OUT" == *"INFO: stopping kvm after backup task"* && "$OUT" == *"vzdump-qemu-220-"*".vma.zst'"* ]] && ok "vzdump VM lines" || bad "vzdump: $OUT"
qm start 220 >/dev/null
run qm guest exec 220 --timeout 30 -- cloud-init status --wait; check "second boot: cloud-init done again" 0 '"exitcode" : 0'
run vzdump 220 --storage local --compress zstd; check "vzdump of a running VM with the agent" 0 "INFO: issuing guest-agent 'fs-freeze' command"
ARCHIVE="$(ls "$STATE/var/lib/vz/dump/" | grep 'vma.zst$' | tail -1)"
run qmrestore "local:backup/$ARCHIVE" 220; check "qmrestore over an existing VM" 2 "" "unable to restore VM 220 - VM 220 already exists on node 'pve'"
run qm shutdown 220 --timeout 30; check "qm shutdown" 0
run qmrestore "local:backup/$ARCHIVE" 222 --unique 1; check "qmrestore to a new id" 0 "restore vma archive"
run qm config 222; check "restored config" 0 "name: app1"
[[ "$OUT" != *"$MAC"* ]] && ok "--unique: new MAC" || bad "same MAC after --unique"
run qm start 222; check "start the restored VM" 0
run qm guest exec 222 --timeout 30 -- sh -c 'cloud-init status --wait >/dev/null; command -v dockerd; cat /etc/ssh/ssh_host_ed25519_key.pub'
check "restored VM keeps Docker and its host key" 0 "/usr/sbin/dockerd"
[[ "$OUT" == *"$(cut -d' ' -f2 "$WORK/hostkey.pub")"* ]] && ok "same host key after restore" || bad "host key: $OUT"

# ---------------------------------------------------------------- destroy
run qm set 222 --protection 1; run qm destroy 222; check "protection" 2 "" "can't remove VM 222 - protection mode enabled"
run qm destroy 222 --purge 1; check "running" 2 "" "can't remove VM 222 - protection mode enabled"
qm set 222 --protection 0 >/dev/null
run qm destroy 222; check "destroy a running VM" 2 "" "VM 222 is running - destroy failed"
python3 "$SIM/pve.py" set "$STATE" ha_delay 0
run ha-manager add vm:222 --state started; check "ha-manager add vm:222" 0
run ha-manager config; check "HA config lists vm:222" 0 "vm:222"
run qm destroy 222; check "destroy of an HA resource" 2 "" "unable to remove VM 222 - used in HA resources and purge parameter not set."
run qm shutdown 222; check "qm shutdown of an HA VM only requests" 0 "Requesting HA stop for VM 222"
run ha-manager status; check "HA status (the CRM round stops it)" 0 "service vm:222 (pve, "
run qm status 222; check "stopped by HA" 0 "status: stopped"
run qm destroy 222 --purge 1; check "destroy --purge" 0 "purging VM 222 from related configurations.."
[[ "$OUT" == *"NOTE: removed VM 222 from HA resource configuration."* ]] && ok "HA resource purged" || bad "purge: $OUT"
[ ! -e "$STATE/ct/222" ] && ok "VM folders gone" || bad "STATE/ct/222 left"
run qm destroy 220 --purge 1 --destroy-unreferenced-disks 1; check "destroy 220" 0
ps -eo args | grep -q "[_]init --state $STATE" && bad "a VM init survived" || ok "no VM left running"

# ---------------------------------------------------------------- a VM on a launched node
# (Through a node's sshd: the image and snippets at /var/lib/vz, create, agent, cloud-init and
# SSH to the VM over direct-tcpip are what tests/vm.rs does end to end through pxdeploy.)
NODE_DIR="$(mktemp -d /var/tmp/pxsim-selftest-vm-node.XXXXXX)"
if python3 "$SIM/launch.py" up --dir "$NODE_DIR" >"$WORK/launch.json" 2>"$WORK/launch.err"; then
    NPORT="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$WORK/launch.json")"
    run ssh -p "$NPORT" -i "$NODE_DIR/client_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes \
        -o UserKnownHostsFile="$NODE_DIR/known_hosts" root@127.0.0.1 \
        "qm create 240 --net0 virtio,bridge=vmbr0 --start 1 >/dev/null && qm status 240"
    check "a VM on a launched node" 0 "status: running"
    python3 "$SIM/launch.py" down --dir "$NODE_DIR" 2>/dev/null
    ps -eo args | grep -q "[_]init --state $NODE_DIR" && bad "launch.py down left a VM" || ok "launch.py down stops the VM"
else
    bad "launch.py up: $(cat "$WORK/launch.err")"
fi
rm -rf "$NODE_DIR"

echo "selftest_vm: $FAILS failure(s)"
[ "$FAILS" = 0 ]
