#!/usr/bin/env bash
# daily_checks.sh: the runbook's morning checklist as a plain shell script, the
# kind an ops wiki carries. The benchmark baseline of playbooks/daily.yml
# (tests/bench/README.md): the SAME checks with the SAME thresholds as the
# opsbook.stack.checklist role's defaults, on all-in-one hosts (db + cache +
# app + web), over the same connection type (`docker exec`).
#
#   daily_checks.sh [-P JOBS] HOST...
#
# Hosts are checked one after the other (the wiki way); -P JOBS checks up to
# JOBS hosts at a time (xargs -P). One line per check:
#   <host> <ok|warn|crit|unknown> <check id> <message>
# then "<host> summary ok=.. warn=.. crit=.. unknown=..".
# Exit status: 0 when nothing is critical, 2 when a check is critical.
#
# Environment: REDIS_MONITOR_PASSWORD (else the first word of
# $BENCH_SECRETS/redis_monitor), threshold variables below.
# Snippets run on the hosts are single-quoted on purpose (they expand there).
# shellcheck disable=SC2016
set -uo pipefail

# ---------------------------------------------------------------- settings
APP_NAME=${APP_NAME:-refservice}
APP_PORT=${APP_PORT:-8000}
HTTPS_PORT=${HTTPS_PORT:-443}
SERVER_NAME=${SERVER_NAME:-localhost}
APP_DB=${APP_DB:-appdb}
REDIS_USER=${REDIS_USER:-opsbook-monitor}
TLS_CERT=${TLS_CERT:-/etc/nginx/tls/opsbook.crt}
UNITS=${UNITS:-"postgresql redis-server $APP_NAME-web $APP_NAME-scheduler nginx"}
LOG_STATE_DIR=${LOG_STATE_DIR:-/var/lib/daily-checks}   # on each host, like log_check
LOG_MAX_BYTES=${LOG_MAX_BYTES:-52428800}

# Thresholds: warn crit (roles/checklist/defaults/main.yml).
CPU="70 90"; LOAD="2 4"; MEM="80 90"; DISK="85 95"; INODE="85 95"; CLOCK_MS="100 1000"
PG_CONN="80 95"; PG_LONG_S="300 3600"; PG_IDLE_TX_S="60 600"; PG_WRAP="50 75"; PG_VACUUM_H="168 720"
PG_REPL_LAG_S="30 300"; PG_EXPECTED_STANDBYS=0; PG_VACUUM_MIN_ROWS=10000
REDIS_MEM="80 90"; REDIS_REJECTED="1 100"; REDIS_RDB_AGE_H="24 72"
HTTP_LATENCY_MS="500 2000"; TLS_DAYS="30 7"
FAILED_JOBS="1 5"; DATA_AGE_H="24 48"; VALID_RATE="95 90"; GAPS="300 1000"

usage() { echo "usage: $0 [-P JOBS] HOST..." >&2; exit 64; }
JOBS=0
while getopts P: opt; do
  case $opt in P) JOBS=$OPTARG ;; *) usage ;; esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || usage

if [ "$JOBS" -gt 0 ]; then
  # Parallel: one child per host; each prints its block at once.
  printf '%s\n' "$@" | xargs -P "$JOBS" -n 1 bash "$0"
  rc=$?
  [ $rc -eq 0 ] && exit 0 || exit 2
fi

if [ -z "${REDIS_MONITOR_PASSWORD:-}" ] && [ -r "${BENCH_SECRETS:-}/redis_monitor" ]; then
  read -r REDIS_MONITOR_PASSWORD _ < "$BENCH_SECRETS/redis_monitor"
fi
REDIS_MONITOR_PASSWORD=${REDIS_MONITOR_PASSWORD:-}

# ---------------------------------------------------------------- helpers
H=""; OUT=""; N_OK=0; N_WARN=0; N_CRIT=0; N_UNKNOWN=0

emit() {  # status id message
  case $1 in ok) N_OK=$((N_OK + 1)) ;; warn) N_WARN=$((N_WARN + 1)) ;;
             crit) N_CRIT=$((N_CRIT + 1)) ;; *) N_UNKNOWN=$((N_UNKNOWN + 1)) ;; esac
  OUT+="$H $1 $2 $3"$'\n'
}

judge() {  # id value "warn crit" direction(above|below) unit label
  local id=$1 v=$2 w c dir=$4 unit=$5 label=$6 st op
  read -r w c <<< "$3"
  if [ -z "$v" ]; then emit unknown "$id" "$label: no value"; return; fi
  st=$(awk -v v="$v" -v w="$w" -v c="$c" -v d="$dir" 'BEGIN {
    s = "ok"
    if (d == "below") { if (w != "" && v + 0 <= w + 0) s = "warn"; if (c != "" && v + 0 <= c + 0) s = "crit" }
    else              { if (w != "" && v + 0 >= w + 0) s = "warn"; if (c != "" && v + 0 >= c + 0) s = "crit" }
    print s }')
  op='>='; [ "$dir" = below ] && op='<='
  emit "$st" "$id" "$label is $v$unit (warn $op $w$unit, crit $op $c$unit)"
}

x() { docker exec "$H" "$@"; }                              # run on the host
pg() { docker exec -u postgres -e PGOPTIONS="-c default_transaction_read_only=on -c statement_timeout=30s" \
         "$H" psql -XAtq -v ON_ERROR_STOP=1 -F ' ' -d "${2:-postgres}" -c "$1" 2>&1; }
rcli() { docker exec -e REDISCLI_AUTH="$REDIS_MONITOR_PASSWORD" "$H" \
           redis-cli --no-auth-warning --user "$REDIS_USER" -h 127.0.0.1 "$@" 2>&1; }

# ---------------------------------------------------------------- host
# On the host: memory limit, usage and inactive file cache of the nearest
# cgroup (v1 or v2) + MemTotal / MemAvailable, in bytes.
MEM_SCAN='cg=$(awk -F: '"'"'$2 ~ /(^|,)memory(,|$)/ { print $3 } $2 == "" { u = $3 } END { if (u != "") print "v2:" u }'"'"' /proc/self/cgroup | head -n1)
case $cg in
  v2:*) d=/sys/fs/cgroup${cg#v2:}; lim=$(cat $d/memory.max 2>/dev/null); use=$(cat $d/memory.current 2>/dev/null)
        ina=$(awk '"'"'$1 == "inactive_file" { print $2 }'"'"' $d/memory.stat 2>/dev/null) ;;
  *)    d=/sys/fs/cgroup/memory$cg; lim=$(cat $d/memory.limit_in_bytes 2>/dev/null); use=$(cat $d/memory.usage_in_bytes 2>/dev/null)
        ina=$(awk '"'"'$1 == "total_inactive_file" { print $2 }'"'"' $d/memory.stat 2>/dev/null) ;;
esac
echo "${lim:-max} ${use:-0} ${ina:-0} $(awk '"'"'/^MemTotal:/ { t = $2 } /^MemAvailable:/ { a = $2 } END { print t * 1024, a * 1024 }'"'"' /proc/meminfo)"'

check_host_resources() {
  local s v out
  # CPU: busy share between two /proc/stat samples 1 s apart (user..steal).
  s=$(x sh -c 'head -n1 /proc/stat; sleep 1; head -n1 /proc/stat')
  v=$(awk '{ t = 0; for (i = 2; i <= 9; i++) t += $i; idle = $5 + $6 }
           NR == 1 { t1 = t; i1 = idle } NR == 2 { if (t > t1) printf "%.1f", 100 * (1 - (idle - i1) / (t - t1)) }' <<< "$s")
  judge host.cpu "$v" "$CPU" above % "CPU busy"
  # Load: 5-minute load average per core.
  s=$(x sh -c 'cat /proc/loadavg; nproc')
  v=$(awk 'NR == 1 { l = $2 } NR == 2 { printf "%.2f", l / $1 }' <<< "$s")
  judge host.load "$v" "$LOAD" above "" "5-minute load per core"
  # Memory: the container's cgroup limit when there is one, else MemAvailable.
  s=$(x sh -c "$MEM_SCAN")
  v=$(awk '{ lim = $1; if (lim != "max" && lim + 0 < $4 + 0) printf "%.1f", 100 * ($2 - $3) / lim
             else printf "%.1f", 100 * ($4 - $5) / $4 }' <<< "$s")
  judge host.memory "$v" "$MEM" above % "memory used"
  # Disks and inodes of the real local filesystems (no bind-mounted files).
  out=$(x sh -c 'df --output=target,pcent,ipcent -x tmpfs -x devtmpfs -x proc -x sysfs -x devpts -x mqueue \
                   -x cgroup -x cgroup2 -x squashfs 2>/dev/null | tail -n +2 | while read -r t p i; do [ -d "$t" ] && echo "$t $p $i"; done')
  while read -r mnt pc ipc; do
    [ -n "$mnt" ] || continue
    judge "host.disk:$mnt" "${pc%\%}" "$DISK" above % "disk usage of $mnt"
    if [ "$ipc" = "-" ]; then emit ok "host.inodes:$mnt" "$mnt has no inode limit"
    else judge "host.inodes:$mnt" "${ipc%\%}" "$INODE" above % "inode usage of $mnt"; fi
  done <<< "$out"
  # systemd units: active and enabled, one systemctl call.
  # shellcheck disable=SC2086
  out=$(x systemctl show -p Id -p LoadState -p ActiveState -p UnitFileState $UNITS)
  local u
  for u in $UNITS; do
    s=$(awk -v RS= -v u="$u.service" '$0 ~ "Id=" u "\n" || $0 ~ "Id=" u "$"' <<< "$out")
    local load active enabled
    load=$(sed -n 's/^LoadState=//p' <<< "$s"); active=$(sed -n 's/^ActiveState=//p' <<< "$s")
    enabled=$(sed -n 's/^UnitFileState=//p' <<< "$s")
    if [ "$load" = not-found ] || [ -z "$load" ]; then emit crit "host.unit:$u" "unit $u not found"
    elif [ "$active" = failed ]; then emit crit "host.unit:$u" "unit $u has failed"
    elif [ "$active" != active ]; then emit crit "host.unit:$u" "unit $u is $active, expected active"
    elif [ "$enabled" != enabled ]; then emit warn "host.unit:$u" "unit $u is active but $enabled, expected enabled"
    else emit ok "host.unit:$u" "unit $u is active and enabled"; fi
  done
  # Clock: adjtimex(2) read-only (modes=0).
  s=$(x python3 -c '
import ctypes, ctypes.util
class T(ctypes.Structure):
    _fields_ = [("modes", ctypes.c_uint)] + [(n, ctypes.c_long) for n in ("offset", "freq", "maxerror", "esterror")] + [("status", ctypes.c_int)] + [(n, ctypes.c_long) for n in ("constant", "precision", "tolerance", "sec", "usec", "tick", "ppsfreq", "jitter")] + [("shift", ctypes.c_int)] + [(n, ctypes.c_long) for n in ("stabil", "jitcnt", "calcnt", "errcnt", "stbcnt")] + [("tai", ctypes.c_int), ("pad", ctypes.c_int * 11)]
t = T(); r = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).adjtimex(ctypes.byref(t))
print(r, t.status, abs(t.offset) / (1e6 if t.status & 0x2000 else 1e3))' 2>&1)
  local state status off
  read -r state status off <<< "$s"
  if ! [[ $state =~ ^-?[0-9]+$ ]] || [ "$state" -lt 0 ]; then emit unknown host.clock "adjtimex failed: ${s:0:80}"
  elif [ "$state" -eq 5 ] || [ $((status & 0x40)) -ne 0 ]; then emit warn host.clock "clock is not synchronised (offset estimate ${off} ms)"
  else judge host.clock "$off" "$CLOCK_MS" above " ms" "clock offset"; fi
}

# ---------------------------------------------------------------- PostgreSQL
check_postgresql() {
  local s used max v
  if ! s=$(pg "SELECT count(*) FILTER (WHERE backend_type = 'client backend'), current_setting('max_connections') FROM pg_stat_activity"); then
    emit crit pg.connect "cannot connect to PostgreSQL: ${s:0:120}"
    for v in connections long_running idle_in_transaction wraparound vacuum replication; do
      emit unknown "pg.$v" "not measured: cannot connect"; done
    return
  fi
  emit ok pg.connect "connected to PostgreSQL"
  read -r used max <<< "$s"
  judge pg.connections "$(awk -v u="$used" -v m="$max" 'BEGIN { printf "%.1f", 100 * u / m }')" "$PG_CONN" above % \
    "connections in use ($used of $max)"
  v=$(pg "SELECT round(coalesce(max(extract(epoch FROM now() - query_start)), 0)::numeric, 1) FROM pg_stat_activity
          WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()")
  judge pg.long_running "$v" "$PG_LONG_S" above " s" "longest running query"
  v=$(pg "SELECT round(coalesce(max(extract(epoch FROM now() - state_change)), 0)::numeric, 1) FROM pg_stat_activity
          WHERE state IN ('idle in transaction', 'idle in transaction (aborted)') AND backend_type = 'client backend'")
  judge pg.idle_in_transaction "$v" "$PG_IDLE_TX_S" above " s" "longest idle-in-transaction session"
  v=$(pg "SELECT round(100.0 * max(age(datfrozenxid)) / 2147483648, 2) FROM pg_database")
  judge pg.wraparound "$v" "$PG_WRAP" above % "transaction id age"
  v=$(pg "SELECT round(max(extract(epoch FROM now() - coalesce(greatest(last_vacuum, last_autovacuum),
            (SELECT coalesce(stats_reset, pg_postmaster_start_time()) FROM pg_stat_database WHERE datname = current_database()))))::numeric / 3600, 2)
          FROM pg_stat_user_tables WHERE n_live_tup >= $PG_VACUUM_MIN_ROWS")
  if [ -z "$v" ]; then emit ok pg.vacuum "no table has $PG_VACUUM_MIN_ROWS or more live rows"
  else judge pg.vacuum "$v" "$PG_VACUUM_H" above " h" "time since the last vacuum"; fi
  while read -r db size; do
    [ -n "$db" ] && emit ok "pg.database_size:$db" "database $db is $size bytes"
  done <<< "$(pg "SELECT datname, pg_database_size(datname) FROM pg_database WHERE NOT datistemplate ORDER BY 1")"
  read -r s used v <<< "$(pg "SELECT pg_is_in_recovery(), (SELECT count(*) FROM pg_stat_replication),
                                   round(coalesce((SELECT max(extract(epoch FROM replay_lag)) FROM pg_stat_replication), 0)::numeric, 1)")"
  if [ "$s" = t ]; then emit ok pg.replication "standby (in recovery)"
  elif [ "${used:-0}" -lt "$PG_EXPECTED_STANDBYS" ]; then emit crit pg.replication "$used standby(s) streaming, expected $PG_EXPECTED_STANDBYS"
  else judge pg.replication "$v" "$PG_REPL_LAG_S" above " s" "replication lag ($used standbys)"; fi
  # The application's data checks (custom SQL of the checklist), read-only.
  pg_query failed_jobs_24h "$FAILED_JOBS" above " jobs" "failed job executions in the last 24 h" \
    "SELECT count(*) FROM job_executions WHERE status = 'FAILED' AND started_at > now() - interval '24 hours'"
  pg_query data_age_hours "$DATA_AGE_H" above " h" "age of the newest measurement" \
    "SELECT round((extract(epoch FROM now() - max(ts)) / 3600)::numeric, 2) FROM measurements"
  pg_query validation_rate_24h "$VALID_RATE" below % "share of valid measurements in the last 24 h" \
    "SELECT round(100.0 * count(*) FILTER (WHERE valid) / count(*), 2) FROM measurements
     WHERE ts > now() - interval '24 hours' HAVING count(*) >= 50"
  pg_query gaps_24h "$GAPS" above " gaps" "measurement batches flagged with a time gap in the last 24 h" \
    "SELECT count(*) FROM measurements WHERE gap AND ts > now() - interval '24 hours'"
}

pg_query() {  # name "warn crit" direction unit label sql
  local v
  if ! v=$(pg "$6" "$APP_DB"); then emit unknown "pg.query:$1" "$5: ${v:0:120}"
  elif [ -z "$v" ]; then emit unknown "pg.query:$1" "$5: no row / NULL"
  else judge "pg.query:$1" "$v" "$2" "$3" "$4" "$5"; fi
}

# ---------------------------------------------------------------- Redis
check_redis() {
  local s info v maxmem used total save
  s=$(rcli PING)
  if [ "$s" != PONG ]; then
    emit crit redis.ping "Redis does not answer PING: ${s:0:120}"
    for v in memory evictions rejected_connections rdb aof; do emit unknown "redis.$v" "not measured: no PING"; done
    return
  fi
  emit ok redis.ping "Redis answers PING"
  info=$(rcli INFO | tr -d '\r')
  save=$(rcli CONFIG GET save | sed -n 2p)
  iv() { sed -n "s/^$1://p" <<< "$info"; }
  used=$(iv used_memory); maxmem=$(iv maxmemory); total=$(iv total_system_memory)
  [ "${maxmem:-0}" -gt 0 ] || maxmem=$total
  judge redis.memory "$(awk -v u="$used" -v m="$maxmem" 'BEGIN { printf "%.1f", 100 * u / m }')" "$REDIS_MEM" above % \
    "memory used of maxmemory"
  emit ok redis.evictions "$(iv evicted_keys) keys evicted since start"
  judge redis.rejected_connections "$(iv rejected_connections)" "$REDIS_REJECTED" above "" "rejected connections"
  if [ -z "$save" ]; then emit ok redis.rdb "RDB snapshots disabled"
  elif [ "$(iv rdb_last_bgsave_status)" != ok ]; then emit crit redis.rdb "last RDB save failed"
  elif [ "$(iv rdb_changes_since_last_save)" -gt 0 ]; then
    v=$(awk -v t="$(iv rdb_last_save_time)" -v n="$(date +%s)" 'BEGIN { printf "%.2f", (n - t) / 3600 }')
    judge redis.rdb "$v" "$REDIS_RDB_AGE_H" above " h" "age of the last RDB save with changes pending"
  else emit ok redis.rdb "RDB snapshot up to date"; fi
  if [ "$(iv aof_enabled)" != 1 ]; then emit ok redis.aof "AOF disabled"
  elif [ "$(iv aof_last_write_status)" != ok ] || [ "$(iv aof_last_bgrewrite_status)" != ok ]; then
    emit crit redis.aof "AOF write/rewrite status is not ok"
  else emit ok redis.aof "AOF enabled, last write ok"; fi
}

# ---------------------------------------------------------------- HTTP
http() {  # name url assertions(python expr list "path=json-value;...") [curl options]
  local name=$1 url=$2 asserts=$3 s code secs body
  shift 3
  s=$(x curl -sS -m 10 "$@" -o - -w '\n%{http_code} %{time_total}' "$url" 2>&1)
  read -r code secs <<< "$(tail -n 1 <<< "$s")"
  body=$(sed '$d' <<< "$s")
  if [ "$code" != 200 ]; then
    emit crit "http.status:$name" "GET $url answered ${code:-nothing} (expected 200): ${body:0:80}"
    emit unknown "http.latency:$name" "not measured"
    return
  fi
  emit ok "http.status:$name" "GET $url answered 200"
  judge "http.latency:$name" "$(awk -v s="$secs" 'BEGIN { printf "%.0f", s * 1000 }')" "$HTTP_LATENCY_MS" above " ms" "latency of $name"
  [ -n "$asserts" ] || return
  # jq-free JSON assertions: dot path = expected JSON value.
  local st path msg
  while read -r st path msg; do [ -n "$st" ] && emit "$st" "http.json:$name.$path" "$path $msg"; done <<< "$(
    python3 -c '
import json, sys
try:
    doc = json.loads(sys.argv[1])
except ValueError:
    doc = None
for a in sys.argv[2].split(";"):
    path, want = a.split("=", 1)
    if doc is None:
        print("unknown", path, "body is not JSON"); continue
    cur = doc
    for key in path.split("."):
        cur = cur.get(key) if isinstance(cur, dict) else None
    ok = cur == json.loads(want)
    print("ok" if ok else "crit", path, "is %s (expected %s)" % (json.dumps(cur), want))
' "$body" "$asserts")"
}

check_http() {
  http app_health "http://127.0.0.1:$APP_PORT/health" \
    'status="healthy";scheduler.running=true;database.ok=true;redis.ok=true'
  http app_status "http://127.0.0.1:$APP_PORT/api/v1/status" ""
  http proxy_health "https://127.0.0.1:$HTTPS_PORT/health" 'status="healthy"' -k
}

# ---------------------------------------------------------------- logs
# On the host: new bytes of each file since the remembered offset (state kept on
# the host; rotation = new inode, truncation = smaller file: from the start),
# capped at LOG_MAX_BYTES, counted per pattern (grep -P: the module's regexes).
# shellcheck disable=SC2016
LOG_SCAN='name=$1 glob=$2 state=$3 max=$4; shift 4; mkdir -p -m 0700 "$state"
found=0
for f in $glob; do
  [ -f "$f" ] || continue; found=1
  st="$state/$name.$(echo "$f" | tr / _)"
  read -r ino size <<EOF
$(stat -Lc "%i %s" "$f")
EOF
  oino=""; off=0; [ -r "$st" ] && read -r oino off < "$st"
  { [ "$oino" = "$ino" ] && [ "$size" -ge "$off" ]; } || off=0
  [ $((size - off)) -gt "$max" ] && off=$((size - max))
  n=$#; i=1
  while [ $i -le $n ]; do
    eval "p=\${$i}"; eval "re=\${$((i + 1))}"
    c=$(tail -c +$((off + 1)) "$f" | head -c $((size - off)) | grep -cP -- "$re")
    echo "$f $p $c"; i=$((i + 2))
  done
  echo "$ino $size" > "$st"
done
[ $found = 1 ] || echo "MISSING $glob"'

check_log() {  # name glob pattern-name regex warn crit [pattern-name regex warn crit ...]
  local name=$1 glob=$2 out args=() thr=() f p c i inst
  shift 2
  while [ $# -gt 0 ]; do args+=("$1" "$2"); thr+=("$1=$3 $4"); shift 4; done
  out=$(x sh -c "$LOG_SCAN" sh "$name" "$glob" "$LOG_STATE_DIR" "$LOG_MAX_BYTES" "${args[@]}" 2>&1)
  while read -r f p c; do
    [ -n "$f" ] || continue
    if [ "$f" = MISSING ]; then emit unknown "log.*:$name" "log file $c does not exist"; continue; fi
    inst=$name; [[ $glob == *'*'* ]] && inst="$name/$(basename "$f")"
    for i in "${thr[@]}"; do
      [ "${i%%=*}" = "$p" ] && judge "log.$p:$inst" "$c" "${i#*=}" above " lines" "lines matching $p in $f since the last run"
    done
  done <<< "$out"
}

check_logs() {
  check_log app "/var/log/$APP_NAME/*.log" \
    errors '\b(ERROR|CRITICAL|FATAL)\b|Traceback \(most recent call last\)' 1 10 \
    rate_limit '(?i)rate[ -]?limit|\b429\b|limiting (requests|connections)' 1 50
  check_log nginx_error /var/log/nginx/error.log \
    errors '\[(error|crit|alert|emerg)\]' 1 20 \
    rate_limit 'limiting (requests|connections)' 1 50
  check_log postgresql '/var/log/postgresql/postgresql-*-main.log' \
    errors '\b(ERROR|FATAL|PANIC):' 1 10
  check_log redis /var/log/redis/redis-server.log \
    errors "(?i)MISCONF|OOM command not allowed|Can't save|Failed opening|Background saving error" 1 5
}

# ---------------------------------------------------------------- TLS
days_left() {  # "notAfter=..." -> days (1 decimal)
  local na=${1#notAfter=}
  [ -n "$na" ] || return 1
  awk -v e="$(date -d "$na" +%s)" -v n="$(date +%s)" 'BEGIN { printf "%.1f", (e - n) / 86400 }'
}

check_tls() {
  local s v
  s=$(x openssl x509 -noout -enddate -in "$TLS_CERT" 2>&1)
  if v=$(days_left "$(grep '^notAfter=' <<< "$s")"); then judge tls.cert:nginx "$v" "$TLS_DAYS" below " days" "days left of $TLS_CERT"
  else emit unknown tls.cert:nginx "cannot read $TLS_CERT: ${s:0:80}"; fi
  s=$(x sh -c "openssl s_client -connect 127.0.0.1:$HTTPS_PORT -servername $SERVER_NAME </dev/null 2>/dev/null | openssl x509 -noout -enddate" 2>&1)
  if v=$(days_left "$(grep '^notAfter=' <<< "$s")"); then judge tls.endpoint:https "$v" "$TLS_DAYS" below " days" "days left of the certificate of 127.0.0.1:$HTTPS_PORT"
  else emit crit tls.endpoint:https "no TLS handshake with 127.0.0.1:$HTTPS_PORT"; fi
}

# ---------------------------------------------------------------- main
worst=0
for H in "$@"; do
  OUT=""; N_OK=0; N_WARN=0; N_CRIT=0; N_UNKNOWN=0
  if ! docker exec "$H" true 2>/dev/null; then
    emit crit host.reachable "cannot docker exec into $H"
  else
    check_host_resources
    check_postgresql
    check_redis
    check_http
    check_logs
    check_tls
  fi
  printf '%s%s summary ok=%d warn=%d crit=%d unknown=%d\n' "$OUT" "$H" "$N_OK" "$N_WARN" "$N_CRIT" "$N_UNKNOWN"
  [ "$N_CRIT" -gt 0 ] && worst=2
done
exit $worst
