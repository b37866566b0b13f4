#!/usr/bin/env bash
# smtp-local.sh - facteur against Postfix on this machine, in one run: concurrent
# SMTP sessions sending messages to a local mailbox, timed until every message
# is in its mailbox. Both fsync before 250. Uses ../shared/bench/compare-smtp.sh.
#
# Usage: bench/smtp-local.sh [sessions=20] [count=20000] [size=5120]
# Env:   SHARED=../shared/bench   where the peers' scripts are
#        FACTEUR_PORT=2526        facteur's listener (Postfix takes 2525)
#        KEEP=1                   keep the data directory and log afterwards
# Prints both rates and "ratio delivered_msgs_per_s facteur/postfix=R".
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=$(cd "${SHARED:-../shared/bench}" && pwd)
PORT=${FACTEUR_PORT:-2526}
work=$(mktemp -d /var/tmp/facteur-bench.XXXXXX)
go build -o "$work/facteur" ./cmd/facteur
cat > "$work/main.cf" <<CONF
data_directory = $work/data
smtpd_listen = 127.0.0.1:$PORT
myhostname = facteur.bench.local
mydestination = bench.test
mynetworks = 127.0.0.0/8
CONF
echo benchpass | "$work/facteur" user add bench --password-stdin -config "$work/main.cf"
"$work/facteur" serve -config "$work/main.cf" 2>"$work/log" &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
. bench/lib.sh
wait_port 127.0.0.1 "$PORT"
COUNT_CMD="$work/facteur mailbox count bench -config $work/main.cf" \
  "$SHARED/compare-smtp.sh" "127.0.0.1:$PORT" "${1:-20}" "${2:-20000}" "${3:-5120}"
