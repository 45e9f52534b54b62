#!/bin/sh
# Runs in the guest (src/monitor/apply.rs: SCRIPT): installs, updates or removes a
# project's watcher. $1: install | remove; $2: the watcher's folder
# (/var/lib/pxdeploy/monitor/<project>); $3: its systemd unit's name. install only: $4
# the marker (the hash of what is installed), $5 the watcher script, $6 its settings,
# $7 the unit file; stdin: the channels file (`<name> <url>` lines, secret: it never
# reaches a command line). Every file is written 0600 in a 0700 folder through a
# temporary file and a rename; the marker last, once the unit runs. A symbolic link at
# the folder, a file or on the way is refused. remove: stops and disables the unit,
# deletes it and the folder (a watcher that is not there is fine).
# Exit: 0; 65 a symbolic link on the way; 69 no systemctl in the guest; 1 anything else.
umask 077
refuse() { echo "pxdeploy: $1 is a symbolic link: refusing to write through it" >&2; exit 65; }
p='' r=${2#/}; while :; do c=${r%%/*}; p="$p/$c"; [ -L "$p" ] && refuse "$p"
[ "$r" = "$c" ] && break; r=${r#*/}; done
u=/etc/systemd/system/$3
[ -L "$u" ] && refuse "$u"
if [ "$1" = remove ]; then
  if command -v systemctl >/dev/null 2>&1 && [ -e "$u" ]; then
    systemctl disable --now "$3" >/dev/null 2>&1; rm -f -- "$u"; systemctl daemon-reload
  fi
  rm -rf -- "$2"; exit 0
fi
for f in channels watch.sh settings installed; do [ -L "$2/$f" ] && refuse "$2/$f"; done
command -v systemctl >/dev/null 2>&1 || {
  echo "pxdeploy: the guest has no systemctl: the watcher runs as a systemd service" >&2; exit 69; }
mkdir -p -- "$2" && chmod 700 -- "$2" || exit 1
put() { rm -f -- "$2/.$1.tmp" && cat > "$2/.$1.tmp" && chmod "$3" -- "$2/.$1.tmp" && mv -f -- "$2/.$1.tmp" "$2/$1"; }
put channels "$2" 600 || exit 1
printf '#!/bin/sh\n%s' "$5" | put watch.sh "$2" 700 || exit 1
printf '%s' "$6" | put settings "$2" 600 || exit 1
rm -f -- "$2/installed"
mkdir -p /etc/systemd/system && printf '%s' "$7" > "$u.tmp" && chmod 644 "$u.tmp" && mv -f -- "$u.tmp" "$u" || exit 1
if ! { systemctl daemon-reload && systemctl enable "$3" >/dev/null 2>&1 && systemctl restart "$3"; }; then
  echo "pxdeploy: \`systemctl restart $3\` failed" >&2; exit 1
fi
printf '%s\n' "$4" | put installed "$2" 600
