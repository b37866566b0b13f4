#!/usr/bin/env bash
# mailread.sh - facteur's POP3 and IMAP against Dovecot on this machine, in one
# run: the same messages delivered to both (Dovecot's Maildirs through Postfix,
# facteur's INBOX through facteur's SMTP), then the read paths of
# ../shared/bench/imap-load.py against both, and per step the ratio
# dovecot_time/facteur_time (>1: facteur is faster).
#
# Usage: bench/mailread.sh [count=10000] [size=5120]
# Env:   SHARED=../shared/bench   where the peers' scripts are
#        SMTP_PORT=2536           facteur's smtpd_listen (Postfix takes 2525)
#        POP3_PORT=2610           facteur's pop3_listen  (Dovecot takes 1110)
#        IMAP_PORT=2643           facteur's imap_listen  (Dovecot takes 1143)
#        RETR=1000                POP3 messages to RETR
#        ROUNDS=2                 sessions of each protocol on each server: round 1
#                                 is cold (the first access to the mailbox), later
#                                 ones warm
#        NEEDLES=count/1000       of the messages, how many have "needle" in
#                                 their Subject (what UID SEARCH looks for)
#        SESSIONS=20              SMTP sessions of the fill
#        FACTEUR=PATH             a facteur binary to run instead of building ./cmd/facteur
#        KEEP=1                   keep facteur's data directory and log
#
# Each server gets two mailboxes with the same messages, one read only by POP3
# and one only by IMAP, so that each protocol's first session is the first
# access to its mailbox: Dovecot's imap@ and pop@bench.test, facteur's
# accounts imap and pop. smtp-source (Postfix's) makes the messages, and the
# fill is sequential (SMTP speed is bench/smtp-local.sh's business). Dovecot
# keeps its defaults (mail_fsync = optimized, index files beside the Maildir);
# facteur its own, including the argon2id cost of its password hashes, which
# is in its login time (Dovecot's passwords are PLAIN).
#
# The IMAP part runs only when the facteur built here knows imap_listen.
# For a profile of facteur's side, run internal/imapd's and
# internal/store's benchmarks with go test -cpuprofile, or `facteur serve
# -cpuprofile FILE` against the same configuration.
# Postfix and Dovecot are left running if they were running before, else
# stopped; the imap@ and pop@ Maildirs are emptied at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=$(cd "${SHARED:-../shared/bench}" && pwd)
COUNT=${1:-10000}; SIZE=${2:-5120}
SMTP_PORT=${SMTP_PORT:-2536}; POP3_PORT=${POP3_PORT:-2610}; IMAP_PORT=${IMAP_PORT:-2643}
RETR=${RETR:-1000}; ROUNDS=${ROUNDS:-2}; SESS=${SESSIONS:-20}
NEEDLES=${NEEDLES:-$((COUNT / 1000))}
[ "$NEEDLES" -le "$COUNT" ] || { echo "NEEDLES > count" >&2; exit 2; }
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 10 ] || { echo "ROUNDS: 1 to 10" >&2; exit 2; }
DOVECOT_POP3=127.0.0.1:1110; DOVECOT_IMAP=127.0.0.1:1143
MAILROOT=/var/bench/mail/bench.test
TIMEOUT=570

. bench/lib.sh
busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$SMTP_PORT" "$POP3_PORT" "$IMAP_PORT"; do
  if busy "$p"; then echo "127.0.0.1:$p is taken already; choose another (see Env)" >&2; exit 2; fi
done

work=$(mktemp -d /var/tmp/facteur-mailread.XXXXXX)
pid=
postfix_was=0; postfix status >/dev/null 2>&1 && postfix_was=1
dovecot_was=0; "$SHARED/peers/dovecot-setup.sh" status | grep -q '^running' && dovecot_was=1
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  [ "$dovecot_was" = 1 ] || "$SHARED/peers/dovecot-setup.sh" stop >/dev/null 2>&1 || true
  USERS="imap pop" "$SHARED/peers/postfix-setup.sh" reset >/dev/null 2>&1 || true
  [ "$postfix_was" = 1 ] || "$SHARED/peers/postfix-setup.sh" stop >/dev/null 2>&1 || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# fill LABEL HOST:PORT TO: COUNT messages to TO, NEEDLES of them
# with "needle" in the Subject; smtp-load.sh waits until all are delivered
# (COUNT_DIR or COUNT_CMD in the environment). Prints the fill's rates.
fill() {
  local label=$1 target=$2 to=$3
  TO=$to SUBJECT="bench" LABEL="fill $label" TIMEOUT=$TIMEOUT REUSE=1 \
    "$SHARED/smtp-load.sh" "$target" "$SESS" $((COUNT - NEEDLES)) "$SIZE" | grep -E 'delivered_msgs_per_s|ERROR'
  if [ "$NEEDLES" -gt 0 ]; then
    TO=$to SUBJECT="bench needle" LABEL="fill $label needles" TIMEOUT=$TIMEOUT REUSE=1 \
      "$SHARED/smtp-load.sh" "$target" 1 "$NEEDLES" "$SIZE" | grep -E 'time_to_delivered_s|ERROR'
  fi
}

if [ -n "${FACTEUR:-}" ]; then cp "$FACTEUR" "$work/facteur"; else go build -o "$work/facteur" ./cmd/facteur; fi
imap=0
if "$work/facteur" config imap_listen -config /dev/null >/dev/null 2>&1; then imap=1; fi

# Dovecot's side: Postfix delivers into the Maildirs, then Dovecot serves them.
"$SHARED/peers/postfix-setup.sh" start >/dev/null
USERS="imap pop" "$SHARED/peers/postfix-setup.sh" reset >/dev/null
for u in pop imap; do
  [ "$u" = imap ] && [ "$imap" = 0 ] && continue
  COUNT_DIR=$MAILROOT/$u/Maildir/new fill "dovecot $u" 127.0.0.1:2525 "$u@bench.test"
done
[ "$postfix_was" = 1 ] || "$SHARED/peers/postfix-setup.sh" stop >/dev/null
# (its daemon keeps the descriptors it is given: a file, not our stdout)
"$SHARED/peers/dovecot-setup.sh" start >"$work/dovecot-setup.log" 2>&1 ||
  { cat "$work/dovecot-setup.log" >&2; exit 1; }

# facteur's side: its own configuration and data directory.
{
  echo "data_directory = $work/data"
  echo "smtpd_listen = 127.0.0.1:$SMTP_PORT"
  echo "pop3_listen = 127.0.0.1:$POP3_PORT"
  [ "$imap" = 1 ] && echo "imap_listen = 127.0.0.1:$IMAP_PORT"
  echo "myhostname = facteur.bench.local"
  echo "mydestination = bench.test"
  echo "mynetworks = 127.0.0.0/8"
  echo "smtpd_peername_lookup = no"
} > "$work/main.cf"
for u in pop imap; do
  echo benchpass | "$work/facteur" user add "$u" --password-stdin -config "$work/main.cf"
done
"$work/facteur" serve -config "$work/main.cf" 2>"$work/log" &
pid=$!
wait_port 127.0.0.1 "$SMTP_PORT"
wait_port 127.0.0.1 "$POP3_PORT"
[ "$imap" = 0 ] || wait_port 127.0.0.1 "$IMAP_PORT"
for u in pop imap; do
  [ "$u" = imap ] && [ "$imap" = 0 ] && continue
  COUNT_CMD="$work/facteur mailbox count $u -config $work/main.cf" \
    fill "facteur $u" "127.0.0.1:$SMTP_PORT" "$u@bench.test"
done

# The reads, each server in turn: POP3 rounds, then IMAP rounds; round 1
# is cold, later rounds warm. POP3 sessions delete nothing. Output lines are "<server> <proto>[ round=N] key=value".
load() { python3 "$SHARED/imap-load.py" "$@" --timeout 300; }
out=$work/results
{
  for r in $(seq 1 "$ROUNDS"); do
    load pop3 "$DOVECOT_POP3" pop@bench.test benchpass --retr "$RETR" --label "dovecot pop3 round=$r"
  done
  for r in $(seq 1 "$ROUNDS"); do
    load pop3 "127.0.0.1:$POP3_PORT" pop benchpass --retr "$RETR" --label "facteur pop3 round=$r"
  done
  if [ "$imap" = 1 ]; then
    load imap "$DOVECOT_IMAP" imap@bench.test benchpass --rounds "$ROUNDS" --label "dovecot imap"
    load imap "127.0.0.1:$IMAP_PORT" imap benchpass --rounds "$ROUNDS" --label "facteur imap"
  fi
} | tee "$out"
[ "$imap" = 1 ] || echo "imap: skipped, this facteur has no imap_listen yet"

# One row per step: both times and dovecot/facteur.
awk '
  {
    server = $1; step = $2; i = 3
    if ($3 ~ /^round=/) { step = step " " $3; i = 4 }
    for (; i <= NF; i++) {
      split($i, kv, "=")
      if (kv[1] ~ /_ms$/) {
        key = step " " substr(kv[1], 1, length(kv[1]) - 3)
        if (!(key in seen)) { seen[key] = 1; order[++n] = key }
        t[server, key] = kv[2]
      } else if (kv[1] == "messages" || kv[1] == "search_hits" || kv[1] == "retrieved") {
        c[server, step " " kv[1]] = kv[2]; ck[step " " kv[1]] = 1
      }
    }
  }
  END {
    for (k in ck) if (c["dovecot", k] != c["facteur", k])
      printf "warning: %s differs: dovecot=%s facteur=%s\n", k, c["dovecot", k], c["facteur", k]
    printf "%-32s %12s %12s %8s\n", "step", "dovecot_ms", "facteur_ms", "ratio"
    for (j = 1; j <= n; j++) {
      k = order[j]; d = t["dovecot", k]; f = t["facteur", k]
      r = (d != "" && f != "" && f > 0) ? sprintf("%.2f", d / f) : "-"
      printf "%-32s %12s %12s %8s\n", k, d, f, r
    }
    for (j = 1; j <= n; j++) {
      k = order[j]; d = t["dovecot", k]; f = t["facteur", k]
      if (d != "" && f != "" && f > 0) { gsub(/ /, "_", k); printf "ratio %s dovecot/facteur=%.2f\n", k, d / f }
    }
  }' "$out"
if [ "${KEEP:-0}" != 1 ] && grep -qiE 'panic|error' "$work/log"; then
  echo "facteur log, errors:"; grep -iE 'panic|error' "$work/log" | tail -n 5
fi
