# Shared by up.sh, down.sh, webhook.sh and run.sh (sourced, never run).

e2e_log() { echo "e2e: $*" >&2; }
e2e_die() { echo "e2e: error: $*" >&2; exit 1; }

# A free TCP port on 127.0.0.1 (the kernel picks it; the caller binds it soon after).
e2e_free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# True when something listens on 127.0.0.1:<port>.
e2e_port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Starts a process in the background with its output in <log> (without run.sh's lock
# descriptor, so a leftover process never holds the lock), and records its
# pid in <pidfile>. Background jobs of a script ignore SIGINT, so Ctrl-C reaches
# run.sh's trap, which stops them in order with SIGTERM.
e2e_spawn() {
  local pidfile="$1" log="$2"; shift 2
  "$@" </dev/null >>"$log" 2>&1 9>&- &
  echo $! >"$pidfile"
}

# Stops the process recorded in <pidfile> if it is still ours (its command line
# names <marker>, so a recycled pid is never killed): SIGTERM, then SIGKILL after 10 s.
e2e_stop() {
  local pidfile="$1" marker="$2" pid i
  [[ -f "$pidfile" ]] || return 0
  pid="$(cat "$pidfile")"
  if [[ -n "$pid" ]] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -F -- "$marker" >/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      e2e_log "pid $pid ($(basename "$pidfile" .pid)) ignored SIGTERM; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

# Polls <url> with curl <curl args...> until it answers 200, the process in
# <pidfile> dies (then prints its log), or <seconds> pass.
e2e_wait_ready() {
  local what="$1" pidfile="$2" log="$3" seconds="$4" url="$5"; shift 5
  local deadline=$((SECONDS + seconds))
  until curl -fsS -o /dev/null --max-time 5 "$@" "$url" 2>/dev/null; do
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      tail -n 40 "$log" >&2 || true
      e2e_die "$what exited before it was ready (log: $log)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 40 "$log" >&2 || true
      e2e_die "$what not ready at $url after ${seconds}s (log: $log)"
    fi
    sleep 0.5
  done
}

# Waits up to <seconds> until the API server calls pidguard for pods: a BestEffort pod (dry run)
# in the enforce-by-default `default` namespace is denied. The rest are the admin's kubectl
# command and flags. On timeout, prints what kubectl answered last and returns 1.
e2e_wait_denying() {
  local seconds="$1"; shift
  local deadline=$((SECONDS + seconds)) answer
  while :; do
    answer="$("$@" run e2e-registration-probe -n default --image=busybox --restart=Never --dry-run=server 2>&1 || true)"
    [[ "$answer" == *"pidguard denied"* ]] && return 0
    ((SECONDS < deadline)) || { echo "$answer" >&2; return 1; }
    sleep 0.5
  done
}
