#!/usr/bin/env bash
# smtp-relay.sh - facteur against Postfix on this machine, in one run: concurrent
# SMTP sessions sending messages for a remote domain, which each server relays
# to Postfix's smtp-sink on loopback; timed from the first MAIL until the sink
# has received the last message. Both fsync each message before 250; the sink
# only counts. Uses ../shared/bench/smtp-load.sh and peers/postfix-setup.sh.
#
# Usage: bench/smtp-relay.sh [sessions=20] [count=20000] [size=5120]
# Env:   SHARED=../shared/bench   where the peers' scripts are
#        FACTEUR_PORT=2526        facteur's listener (Postfix takes 2525)
#        SINK=127.0.0.5:2626      smtp-sink's address, the relayhost of both; not
#                                 127.0.0.1, where both servers listen (a next hop
#                                 on one of its own addresses is a loop to an MTA)
#        TO=bench@relay.test      the remote recipient
#        KEEP=1                   keep the data directory, logs and sink output
# Prints both rates and "ratio relayed_msgs_per_s facteur/postfix=R".
#
# Postfix: after peers/postfix-setup.sh start, this sets only relayhost =
# [SINK] and default_transport = smtp (the setup has smtp_tls_security_level =
# none and no DNS), leaves the concurrency and durability defaults as they are,
# and puts the two settings back on exit. Postfix is stopped after its run, so
# the two servers never share the CPU. Each side gets a fresh smtp-sink -c, whose
# running message counter is the delivered count.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=$(cd "${SHARED:-../shared/bench}" && pwd)
PORT=${FACTEUR_PORT:-2526}
SINK=${SINK:-127.0.0.5:2626}
SINKHOST=${SINK%:*}; SINKPORT=${SINK##*:}
case "$SINKHOST" in 127.*) ;; *) echo "refusing non-loopback sink $SINK" >&2; exit 2;; esac
export TO=${TO:-bench@relay.test}
SESS=${1:-20}; COUNT=${2:-20000}; SIZE=${3:-5120}
TIMEOUT=570

work=$(mktemp -d /var/tmp/facteur-relay.XXXXXX)
sinkpid=; pid=; saved=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  stop_sink
  if [ -n "$saved" ]; then
    purge_postfix
    postconf -e "$(sed -n 1p "$work/postconf.saved")" "$(sed -n 2p "$work/postconf.saved")"
    if postfix status >/dev/null 2>&1; then postfix reload >/dev/null 2>&1 || true; fi
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

. bench/lib.sh

# start_sink NAME: a fresh smtp-sink whose -c counters go to $work/NAME.sink.
# It reports "sess=N quit=N mesg=N" and a carriage return as each message ends.
start_sink() {
  local user=()
  [ "$(id -u)" = 0 ] && user=(-u nobody)
  : > "$work/$1.sink"
  smtp-sink -c "${user[@]}" "$SINKHOST:$SINKPORT" 256 >"$work/$1.sink" 2>"$work/$1.sink.err" &
  sinkpid=$!
  wait_port "$SINKHOST" "$SINKPORT"
}
stop_sink() {
  if [ -n "$sinkpid" ]; then kill "$sinkpid" 2>/dev/null || true; wait "$sinkpid" 2>/dev/null || true; fi
  sinkpid=
}
# The count smtp-load.sh polls: the sink's last mesg= counter.
cat > "$work/sinkcount" <<'SH'
#!/bin/sh
tail -c 256 "$1" | tr '\r' '\n' | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -n 1
SH
chmod +x "$work/sinkcount"

# purge_postfix deletes what a failed run left in Postfix's queue for $TO's domain.
purge_postfix() {
  postqueue -p 2>/dev/null | awk -v dom="@${TO#*@}" '
    /^[0-9A-Za-z]+[*!]? / { id = $1; sub(/[*!]$/, "", id) }
    index($0, dom) && id != "" { print id; id = "" }' | postsuper -d - >/dev/null 2>&1 || true
}

rate() { echo "$1" | sed -n 's/.* delivered_msgs_per_s=\([0-9]*\).*/\1/p' | head -n 1; }
relayed() { echo "$1" | sed 's/delivered_msgs_per_s=/relayed_msgs_per_s=/; s/time_to_delivered_s=/time_to_relayed_s=/'; }

go build -o "$work/facteur" ./cmd/facteur

# Postfix: the bench peer, relaying everything that is not its own to the sink.
"$SHARED/peers/postfix-setup.sh" start >/dev/null || { echo "postfix setup failed" >&2; exit 1; }
postconf relayhost default_transport > "$work/postconf.saved"
saved=1
postconf -e "relayhost = [$SINKHOST]:$SINKPORT" "default_transport = smtp"
postfix stop >/dev/null 2>&1 || true
for _ in $(seq 1 50); do postfix status >/dev/null 2>&1 || break; sleep 0.2; done
postfix start >/dev/null 2>&1
wait_port 127.0.0.1 2525
purge_postfix
start_sink postfix
pf=$(LABEL="postfix s=$SESS n=$COUNT size=$SIZE" COUNT_CMD="$work/sinkcount $work/postfix.sink" \
  TIMEOUT=$TIMEOUT "$SHARED/smtp-load.sh" 127.0.0.1:2525 "$SESS" "$COUNT" "$SIZE") || true
relayed "$pf"
stop_sink
purge_postfix
postfix stop >/dev/null 2>&1 || true

# facteur: the same relay, on its own port.
cat > "$work/main.cf" <<CONF
data_directory = $work/data
smtpd_listen = 127.0.0.1:$PORT
myhostname = facteur.bench.local
mydestination = bench.test
mynetworks = 127.0.0.0/8
relayhost = [$SINKHOST]:$SINKPORT
smtp_tls_security_level = none
smtpd_peername_lookup = no
CONF
start_sink facteur
"$work/facteur" serve -config "$work/main.cf" 2>"$work/log" &
pid=$!
wait_port 127.0.0.1 "$PORT"
fa=$(LABEL="facteur s=$SESS n=$COUNT size=$SIZE" COUNT_CMD="$work/sinkcount $work/facteur.sink" \
  TIMEOUT=$TIMEOUT "$SHARED/smtp-load.sh" "127.0.0.1:$PORT" "$SESS" "$COUNT" "$SIZE") || true
relayed "$fa"
if [ -z "$(rate "$fa")" ]; then
  echo "facteur: sink has $("$work/sinkcount" "$work/facteur.sink") messages; queue:"
  "$work/facteur" queue list -config "$work/main.cf" 2>&1 | head -n 10
  echo "facteur: log tail:"; tail -n 10 "$work/log"
fi

p=$(rate "$pf"); f=$(rate "$fa")
if [ -n "$p" ] && [ -n "$f" ] && [ "$p" -gt 0 ]; then
  awk -v f="$f" -v p="$p" 'BEGIN{printf "ratio relayed_msgs_per_s facteur/postfix=%.2f\n", f/p}'
else
  echo "ratio unavailable (postfix=${p:-none} facteur=${f:-none})"; exit 1
fi
