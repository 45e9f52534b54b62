#!/bin/sh
# Runs in the guest as the file <dir>/watch.sh (src/monitor/mod.rs: WATCHER; <dir> is
# /var/lib/pxdeploy/monitor/<project>), started by pxdeploy-monitor-<project>.service.
# $1: run (a check every $interval seconds, forever) | once (one check) | test (a test
# notification through every channel now, one `<channel> ok|failed <why>` line each) |
# state (what `pxdeploy monitor` shows). Its folder holds `settings` (sourced: project,
# interval, disk_percent, repeat_secs, format, version, title, text, base), `channels`
# (0600, `<name> <url>` lines: read here, never put on a command line; curl gets the URL
# on stdin with -K -), state/, outbox/ and log (rotated at 64 KiB). Tests only:
# PXDEPLOY_MONITOR_NOW (epoch seconds) fixes the clock, PXDEPLOY_MONITOR_PROC replaces /proc.
# Exit: 0; 5 `test` when a channel failed; 2 usage; 1 the folder is incomplete.
set -u
D=${0%/*} S=${0%/*}/state O=${0%/*}/outbox L=${0%/*}/log
umask 077
[ -r "$D/settings" ] || { echo "pxdeploy monitor: no settings in $D" >&2; exit 1; }
project='' interval=60 disk_percent=90 repeat_secs=21600 format=json version='' title='' text='' base=''
# shellcheck disable=SC1091
. "$D/settings"
mkdir -p "$S" "$O" || exit 1
TAB=$(printf '\t') have_curl=0; command -v curl >/dev/null 2>&1 && have_curl=1

clock() {
  if [ -n "${PXDEPLOY_MONITOR_NOW:-}" ]; then t=$(date -u -d "@$PXDEPLOY_MONITOR_NOW" '+%s %Y-%m-%dT%H:%M:%SZ')
  else t=$(date -u '+%s %Y-%m-%dT%H:%M:%SZ'); fi
  now=${t% *} stamp=${t#* }
}

log() {
  printf '%s %s\n' "$stamp" "$*" >> "$L"
  [ "$(wc -c < "$L")" -le 65536 ] || mv -f -- "$L" "$L.1"
}

# The URL of channel $1 into $url (1 when the channel is not configured).
url_of() {
  url=''
  while read -r n u; do [ "$n" = "$1" ] && url=$u; done < "$D/channels"
  [ -n "$url" ]
}

channels() {
  chans=''
  while read -r n _; do chans="$chans $n"; done < "$D/channels"
}

# JSON string body of $1 (quotes, backslashes and control characters escaped/dropped).
json() { printf '%s' "$1" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g'; }

# HTTP request to $url: $1 the body file ('' for a GET), the rest extra curl headers.
# Sets `why` (empty on a 2xx answer); returns 0 on a 2xx answer.
http() {
  body=$1; shift; why=''
  if [ "$have_curl" = 1 ]; then
    if [ -n "$body" ]; then
      code=$(printf 'url = "%s"\n' "$url" | curl -sS -o /dev/null -w '%{http_code}' -m 10 -K - --data-binary "@$body" "$@" 2>/dev/null)
    else
      code=$(printf 'url = "%s"\n' "$url" | curl -sS -o /dev/null -w '%{http_code}' -m 10 -K - 2>/dev/null)
    fi
    rc=$?
    case $rc in
      0) case $code in 2??) return 0 ;; *) why="the receiver answered HTTP $code" ;; esac ;;
      6) why='could not resolve the host' ;;
      7) why='could not connect' ;;
      28) why='timed out after 10 s' ;;
      35|51|58|60|77|83|90|91) why='TLS failed' ;;
      *) why="curl failed (code $rc)" ;;
    esac
    return 1
  fi
  if command -v wget >/dev/null 2>&1; then
    n=$#
    while [ "$n" -ge 2 ]; do set -- "$@" "--header=$2"; shift 2; n=$((n - 2)); done
    if [ -n "$body" ]; then
      printf '%s\n' "$url" | wget -q -T 10 -t 1 -O /dev/null -i - --post-file="$body" "$@" 2>/dev/null
    else
      printf '%s\n' "$url" | wget -q -T 10 -t 1 -O /dev/null -i - 2>/dev/null
    fi
    rc=$?
    [ "$rc" = 0 ] && return 0
    case $rc in 4) why='could not connect' ;; 8) why='the receiver answered an error' ;; *) why="wget failed (code $rc)" ;; esac
    return 1
  fi
  why='neither curl nor wget is installed in the guest'; return 1
}

# Sends the record file $2 (event, service, detail, time: one line each) through channel $1.
send() {
  { read -r ev; read -r svc; read -r det; read -r tm; } < "$2"
  [ "$svc" = - ] && svc=''
  url_of "$1" || { why='not configured'; return 1; }
  b=$S/body
  line="$text: $ev${svc:+ $svc}: $det"
  case $1 in
    webhook)
      if [ "$format" = slack ]; then printf '{"text":"%s"}' "$(json "$line")" > "$b"
      else
        s=null; [ -n "$svc" ] && s="\"$(json "$svc")\""
        printf '{"event":"%s","service":%s,"detail":"%s",%s,"time":"%s"}' "$ev" "$s" "$(json "$det")" "$base" "$tm" > "$b"
      fi
      http "$b" -H 'Content-Type: application/json' ;;
    ntfy)
      case $ev in recovered) p=default t=white_check_mark ;; test) p=low t=test_tube ;; *) p=high t=warning ;; esac
      printf '%s' "$line" > "$b"
      http "$b" -H "Title: $title: $ev${svc:+ $svc}" -H "Priority: $p" -H "Tags: $t,$ev" ;;
    ping)
      case $ev in
        ok|test) http '' ;;
        *) url=$url/fail; printf '%s' "$det" > "$b"; http "$b" ;;
      esac ;;
  esac
}

# Records the result of sending event $2 through channel $1 (for `state`) and the backoff.
result() {
  if [ "$3" = ok ]; then
    [ -e "$S/backoff-$1" ] && rm -f -- "$S/backoff-$1"
  else
    fails=0 next=0; [ -r "$S/backoff-$1" ] && read -r fails next < "$S/backoff-$1"
    fails=$((fails + 1)) wait=$interval i=1
    while [ "$i" -lt "$fails" ] && [ "$wait" -lt 3600 ]; do wait=$((wait * 2)) i=$((i + 1)); done
    cap=$((interval * 10)); [ "$cap" -gt 3600 ] && cap=3600; [ "$wait" -gt "$cap" ] && wait=$cap
    printf '%s %s\n' "$fails" "$((now + wait))" > "$S/backoff-$1"
    log "channel $1: $2 not delivered: $4 (attempt $fails, next in ${wait}s)"
  fi
  printf '%s %s %s %s\n' "$now" "$2" "$3" "$4" > "$S/channel-$1"
}

# Whether channel $1 may be tried now (not backing off).
due() {
  [ -r "$S/backoff-$1" ] || return 0
  read -r _ next < "$S/backoff-$1"; [ "$now" -ge "$next" ]
}

# Queues event $1 (service $2, detail $3) for every queued channel (webhook, ntfy).
queue() {
  seq=0; [ -r "$S/seq" ] && read -r seq < "$S/seq"; seq=$((seq + 1)); echo "$seq" > "$S/seq"
  case $2 in -) log "event $1: $3" ;; *) log "event $1 $2: $3" ;; esac
  for c in $chans; do
    [ "$c" = ping ] && continue
    f=$O/$(printf '%012d' "$seq")-$c
    printf '%s\n%s\n%s\n%s\n' "$1" "$2" "$3" "$stamp" > "$f.tmp" && mv -f -- "$f.tmp" "$f"
  done
}

# Sends what is queued for the queued channels, oldest first; stops at a channel's first
# failure (kept, retried after its backoff). At most 500 kept per channel.
deliver() {
  for c in $chans; do
    [ "$c" = ping ] && continue
    n=0; for f in "$O"/*-"$c"; do [ -e "$f" ] && n=$((n + 1)); done
    for f in "$O"/*-"$c"; do
      [ "$n" -gt 500 ] || break
      rm -f -- "$f"; n=$((n - 1)); log "channel $c: dropped an undelivered notification (more than 500 waiting)"
    done
    due "$c" || continue
    for f in "$O"/*-"$c"; do
      [ -e "$f" ] || continue
      if send "$c" "$f"; then rm -f -- "$f"; result "$c" "$ev" ok ''
      else result "$c" "$ev" failed "$why"; break; fi
    done
  done
}

# Whether `docker compose up` runs in the guest now (a deploy recreating containers).
deploying() {
  for f in "${PXDEPLOY_MONITOR_PROC:-/proc}"/[0-9]*/comm; do
    c=''; read -r c 2>/dev/null < "$f" || continue
    [ "$c" = docker-compose ] || continue
    case " $(tr '\000' ' ' 2>/dev/null < "${f%comm}cmdline") " in *" -p $project "*" up "*) return 0 ;; esac
  done
  return 1
}

# Conditions now, one `key<TAB>service<TAB>detail` line each, into $S/cond; $known=0 when
# the services' states are unknown (Docker down, or a deploy recreating them).
conditions() {
  : > "$S/cond"; known=1
  if ids=$(docker ps -aq --filter "label=com.docker.compose.project=$project" --filter label=com.docker.compose.oneoff=False 2> "$S/err"); then
    : > "$S/inspect"
    # shellcheck disable=SC2086
    [ -z "$ids" ] || docker inspect --format '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}} {{.RestartCount}} {{.State.ExitCode}} {{or .HostConfig.RestartPolicy.Name "no"}}' $ids > "$S/inspect" 2>/dev/null
    [ -e "$S/restarts" ] || : > "$S/restarts"; [ -e "$S/alerts" ] || : > "$S/alerts"
    awk -v hist="$S/restarts" -v alerts="$S/alerts" -v out="$S/restarts.new" '
      BEGIN { OFS = "\t"
        while ((getline l < hist) > 0) { split(l, a, " "); h[a[1]] = l }
        while ((getline l < alerts) > 0) { split(l, a, "\t"); open[a[1]] = 1 } }
      NF >= 6 { s = $1; seen[s] = 1; tot[s] += $4
        if ($2 == "exited" || $2 == "dead") {
          if (!($5 == 0 && ($6 == "no" || $6 == "on-failure"))) ex[s] = s " exited with code " $5
        } else if ($3 == "unhealthy") un[s] = s " is unhealthy" }
      END {
        for (s in seen) {
          n = split(h[s], a, " "); k = 0
          if (n >= 2 && a[n] + 0 <= tot[s]) for (i = 2; i <= n; i++) c[++k] = a[i]
          oldest = (k > 0 ? c[1] : tot[s]); d = tot[s] - oldest; up = tot[s] - (k > 0 ? c[k] : tot[s])
          loop = d > 2 || (d > 0 && ("crash_loop:" s) in open)
          if (loop) print "crash_loop:" s, s, s " restarted " d " times within " (k > 0 ? k : 1) " checks"
          # A crash Docker restarted at once is an exit too (open until a check without one,
          # or until the crash loop it began ends).
          if (!(s in ex) && ((up > 0 && !loop) || (loop && ("exited:" s) in open)))
            ex[s] = s " exited and Docker restarted it (" tot[s] " restarts)"
          if (s in ex) print "exited:" s, s, ex[s]
          if (s in un) print "unhealthy:" s, s, un[s]
          line = s; for (i = (k >= 3 ? k - 1 : 1); i <= k; i++) line = line " " c[i]
          print line " " tot[s] > out
        }
      }' "$S/inspect" > "$S/cond" && mv -f -- "$S/restarts.new" "$S/restarts" 2>/dev/null
    [ -s "$S/cond" ] && deploying && { : > "$S/cond"; known=0; }
  else
    known=0
    read -r e < "$S/err" || e='no answer'
    printf 'docker_down\t-\tDocker does not answer: %s\n' "$(printf %s "$e" | tr -d '\t')" > "$S/cond"
  fi
  df -P / 2>/dev/null | awk -v lim="$disk_percent" -v alerts="$S/alerts" '
    BEGIN { while ((getline l < alerts) > 0) if (l ~ /^disk\t/) open = 1 }
    NR == 2 { p = $5; sub("%", "", p); p += 0
      if (p > lim || (open && p > lim - 2)) printf "disk\t-\troot filesystem %d%% full (limit %d%%)\n", p, lim }' >> "$S/cond"
}

# Compares the conditions with the open alerts: prints `event<TAB>service<TAB>detail` for
# each new one, each one due again (repeat_secs), each one gone (recovered); writes the
# new alerts (`key since last_sent service detail`).
transitions() {
  awk -v now="$now" -v rep="$repeat_secs" -v known="$known" -v alerts="$S/alerts" -v out="$S/alerts.new" '
    BEGIN { FS = OFS = "\t"; printf "" > out
      while ((getline l < alerts) > 0) { split(l, a, "\t"); k = a[1]; old[k] = l
        since[k] = a[2]; last[k] = a[3]; svc[k] = a[4]; det[k] = a[5]; order[++n] = k } }
    { k = $1; cur[k] = 1; ev = k; sub(/:.*/, "", ev)
      if (k in old) {
        if (rep > 0 && now - last[k] >= rep) {
          print ev, $2, "still open after " int((now - since[k]) / 3600) " h: " $3; last[k] = now }
        print k, since[k], last[k], $2, $3 > out
      } else { print ev, $2, $3; print k, now, now, $2, $3 > out } }
    END { for (i = 1; i <= n; i++) { k = order[i]
        if (k in cur) continue
        if (!known && k !~ /^(docker_down|disk)$/) { print old[k] > out; continue }
        print "recovered", svc[k], "resolved: " det[k] } }' "$S/cond" && mv -f -- "$S/alerts.new" "$S/alerts"
}

check() {
  clock; channels
  conditions
  transitions > "$S/events" || return 0
  while IFS=$TAB read -r ev svc det; do queue "$ev" "$svc" "$det"; done < "$S/events"
  deliver
  case " $chans " in *" ping "*)
    if due ping; then
      r=$S/ping-record
      if [ -s "$S/alerts" ]; then
        d=$(awk -F '\t' '{ printf "%s%s", sep, $5; sep = "; " }' "$S/alerts")
        printf 'alert\n-\n%s\n%s\n' "$d" "$stamp" > "$r"
      else printf 'ok\n-\n-\n%s\n' "$stamp" > "$r"; fi
      if send ping "$r"; then result ping "$ev" ok ''; else result ping "$ev" failed "$why"; fi
    fi ;;
  esac
  printf '%s\n' "$now" > "$S/last-check"
}

case ${1:-} in
  run)
    echo $$ > "$S/pid"; clock; log "watcher $version started (every ${interval}s)"
    trap 'clock; log "watcher stopped"; exit 0' TERM INT
    while :; do check; sleep "$interval" & wait $!; done ;;
  once) check ;;
  test)
    clock; channels; rc=0; r=$S/test-record
    printf 'test\n-\n%s\n%s\n' "a test notification from \`pxdeploy monitor test\`" "$stamp" > "$r"
    for c in $chans; do
      if send "$c" "$r"; then result "$c" test ok ''; echo "$c ok"
      else result "$c" test failed "$why"; echo "$c failed $why"; rc=5; fi
    done
    exit "$rc" ;;
  state)
    # running: the pid it wrote is alive and still the watcher (not reused since a reboot)
    channels; p=-; [ -r "$S/pid" ] && read -r p < "$S/pid"
    case $(tr '\000' ' ' 2>/dev/null < "/proc/$p/cmdline") in *watch.sh\ run*) ;; *) p=- ;; esac
    printf 'version %s\ninterval %s\nrunning %s\n' "$version" "$interval" "$p"
    [ -r "$S/last-check" ] && { read -r t < "$S/last-check"; echo "last_check $t"; }
    [ -r "$S/alerts" ] && while IFS=$TAB read -r k since _ svc det; do
      printf 'alert\t%s\t%s\t%s\t%s\n' "${k%%:*}" "$since" "$svc" "$det"; done < "$S/alerts"
    for c in $chans; do
      n=0; for f in "$O"/*-"$c"; do [ -e "$f" ] && n=$((n + 1)); done
      l=-; [ -r "$S/channel-$c" ] && read -r l < "$S/channel-$c"
      printf 'channel\t%s\t%s\t%s\n' "$c" "$n" "$l"
    done ;;
  *) echo "usage: watch.sh run|once|test|state" >&2; exit 2 ;;
esac
