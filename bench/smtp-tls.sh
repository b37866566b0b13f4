#!/usr/bin/env bash
# smtp-tls.sh - facteur against Postfix on this machine, in one run: concurrent
# SMTP sessions sending messages to a local mailbox over STARTTLS, one TCP
# connection and one full TLS handshake per message, timed until every message
# is in its mailbox. Then AUTH PLAIN logins per second on facteur's submission
# listener. Both servers fsync before 250. The load is bench/tlsload; Postfix
# comes from ../shared/bench/peers/postfix-setup.sh.
#
# Usage: bench/smtp-tls.sh [sessions=20] [count=20000] [size=5120]
# Env:   SHARED=../shared/bench   where the peers' scripts are
#        FACTEUR_PORT=2526        facteur's smtpd_listen (Postfix takes 2525)
#        SUBMISSION_PORT=2527     facteur's submission_listen, for the logins
#        LOGINS=1000              AUTH PLAIN logins to time on submission
#        POSTFIX_PORT=2525        Postfix's bench listener (postfix-setup.sh's PORT);
#                                 another port is put back to 2525 on exit
#        POSTFIX_KEY=ec           Postfix's certificate key: ec (P-256, as facteur's
#                                 self-signed one) or rsa (RSA-2048)
#        KEEP=1                   keep the data directory, certificate and logs
# Prints both rates, "ratio delivered_msgs_per_s facteur/postfix=R", then
# facteur's logins_per_s with the argon2id cost of its password hash.
#
# Postfix: after postfix-setup.sh start, this sets only smtpd_tls_security_level
# = may and smtpd_tls_cert_file / smtpd_tls_key_file to a self-signed
# certificate made with openssl, and puts the three settings back on exit
# (postfix-setup.sh's own is smtpd_tls_security_level = none). Postfix is
# stopped after its run, so the two servers never share the CPU. facteur makes
# its own self-signed certificate on first start, with an ECDSA P-256 key;
# Postfix's gets the same kind of key by default, so both sign the same way in
# each handshake. Postfix's logins are not timed:
# its AUTH needs Dovecot's auth service behind it, which postfix-setup.sh and
# dovecot-setup.sh do not set up.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=$(cd "${SHARED:-../shared/bench}" && pwd)
PORT=${FACTEUR_PORT:-2526}
SUBPORT=${SUBMISSION_PORT:-2527}
LOGINS=${LOGINS:-1000}
PFKEY=${POSTFIX_KEY:-ec}
PFPORT=${POSTFIX_PORT:-2525}
SESS=${1:-20}; COUNT=${2:-20000}; SIZE=${3:-5120}
TIMEOUT=570
MD=/var/bench/mail/bench.test/bench/Maildir/new

work=$(mktemp -d /var/tmp/facteur-tls.XXXXXX)
pid=; saved=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ -n "$saved" ]; then
    mapfile -t old < "$work/postconf.saved"
    postconf -e "${old[@]}"
    if [ "$PFPORT" != 2525 ]; then
      postconf -MX "127.0.0.1:$PFPORT/inet"
      postconf -Me "127.0.0.1:2525/inet = 127.0.0.1:2525 inet n - n - - smtpd"
    fi
    USERS=bench "$SHARED/peers/postfix-setup.sh" reset >/dev/null 2>&1 || true
    if postfix status >/dev/null 2>&1; then postfix reload >/dev/null 2>&1 || true; fi
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

. bench/lib.sh

# timed LABEL ADDR COUNTCMD: tlsload against ADDR, then waits until COUNTCMD
# (a shell command printing one integer) has grown by COUNT; prints the
# figures of ../shared/bench/smtp-load.sh.
cpu_snap() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5, $6}' /proc/stat; }
now() { date +%s.%N; }
timed() {
  local label=$1 addr=$2 countcmd=$3 base got t0 t1 t2 c0 c1 deadline
  base=$(bash -c "$countcmd" | tail -n 1)
  c0=$(cpu_snap); t0=$(now)
  if ! timeout "$TIMEOUT" "$work/tlsload" -addr "$addr" -sessions "$SESS" -count "$COUNT" -size "$SIZE" \
      -to bench@bench.test -timeout "${TIMEOUT}s" -label "$label" 2>"$work/tlsload.err"; then
    echo "$label ERROR tlsload: $(head -c 300 "$work/tlsload.err")"; return 1
  fi
  t1=$(now)
  deadline=$(awk -v a="$t0" -v t="$TIMEOUT" 'BEGIN{printf "%d", a+t}')
  while :; do
    got=$(( $(bash -c "$countcmd" | tail -n 1) - base ))
    [ "$got" -ge "$COUNT" ] && break
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "$label ERROR only $got/$COUNT delivered within ${TIMEOUT}s"; return 1
    fi
    sleep 0.2
  done
  t2=$(now); c1=$(cpu_snap)
  awk -v l="$label" -v n="$COUNT" -v a="$t0" -v c="$t2" \
    'BEGIN{printf "%s delivered_msgs_per_s=%.0f\n%s time_to_delivered_s=%.2f\n", l, n/(c-a), l, c-a}'
  echo "$c0 $c1" | awk -v l="$label" -v nc="$(nproc)" '{b=$4-$1; i=$5-$2; w=$6-$3; t=b+i+w; if(t>0) printf "%s cpu_busy_pct=%.0f iowait_pct=%.0f (all %d cores, load generator included)\n", l, 100*b/t, 100*w/t, nc}'
}
rate() { echo "$1" | sed -n 's/.* delivered_msgs_per_s=\([0-9]*\).*/\1/p' | head -n 1; }

go build -o "$work/facteur" ./cmd/facteur
go build -o "$work/tlsload" ./bench/tlsload

# Postfix: the bench peer with STARTTLS offered on its listener.
PORT=$PFPORT "$SHARED/peers/postfix-setup.sh" start >/dev/null || { echo "postfix setup failed" >&2; exit 1; }
case "$PFKEY" in
  ec) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
  rsa) newkey=(-newkey rsa:2048) ;;
  *) echo "POSTFIX_KEY must be ec or rsa" >&2; exit 2 ;;
esac
openssl req -x509 "${newkey[@]}" -nodes -days 2 -subj /CN=bench.local \
  -keyout "$work/postfix.key" -out "$work/postfix.crt" 2>/dev/null
chmod 755 "$work"; chmod 644 "$work/postfix.crt"; chmod 600 "$work/postfix.key"
postconf smtpd_tls_security_level smtpd_tls_cert_file smtpd_tls_key_file > "$work/postconf.saved"
saved=1
postconf -e "smtpd_tls_security_level = may" \
  "smtpd_tls_cert_file = $work/postfix.crt" "smtpd_tls_key_file = $work/postfix.key"
USERS=bench "$SHARED/peers/postfix-setup.sh" reset >/dev/null
postfix reload >/dev/null 2>&1
sleep 1
wait_port 127.0.0.1 "$PFPORT"
pf=$(timed "postfix tls s=$SESS n=$COUNT size=$SIZE" "127.0.0.1:$PFPORT" "find $MD -type f | wc -l") || true
echo "$pf"
USERS=bench "$SHARED/peers/postfix-setup.sh" reset >/dev/null
postfix stop >/dev/null 2>&1 || true

# facteur: the same load on smtpd_listen, its own self-signed certificate.
cat > "$work/main.cf" <<CONF
data_directory = $work/data
smtpd_listen = 127.0.0.1:$PORT
submission_listen = 127.0.0.1:$SUBPORT
myhostname = facteur.bench.local
mydestination = bench.test
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
smtpd_tls_security_level = may
CONF
echo benchpass | "$work/facteur" user add bench --password-stdin -config "$work/main.cf"
"$work/facteur" serve -config "$work/main.cf" 2>"$work/log" &
pid=$!
wait_port 127.0.0.1 "$PORT"
wait_port 127.0.0.1 "$SUBPORT"
fa=$(timed "facteur tls s=$SESS n=$COUNT size=$SIZE" "127.0.0.1:$PORT" \
  "$work/facteur mailbox count bench -config $work/main.cf") || true
echo "$fa"
if [ -z "$(rate "$fa")" ]; then echo "facteur: log tail:"; tail -n 10 "$work/log"; fi

p=$(rate "$pf"); f=$(rate "$fa")
status=0
if [ -n "$p" ] && [ -n "$f" ] && [ "$p" -gt 0 ]; then
  awk -v f="$f" -v p="$p" 'BEGIN{printf "ratio delivered_msgs_per_s facteur/postfix=%.2f\n", f/p}'
else
  echo "ratio unavailable (postfix=${p:-none} facteur=${f:-none})"; status=1
fi

# Logins: STARTTLS, AUTH PLAIN, QUIT on submission, one connection each.
timeout "$TIMEOUT" "$work/tlsload" -addr "127.0.0.1:$SUBPORT" -sessions "$SESS" -logins "$LOGINS" \
  -auth bench:benchpass -timeout "${TIMEOUT}s" -label "facteur submission auth=plain s=$SESS n=$LOGINS" || status=1
# The cost, read from the stored hash (the store's defaults; main.cf has no parameter for it).
cost=$(grep -a -o -h 'argon2id\$v=[0-9]*\$m=[0-9]*,t=[0-9]*,p=[0-9]*' -r "$work/data" 2>/dev/null | head -n 1 || true)
echo "facteur submission password_hash=${cost:-unknown} (m in KiB; set by password_hash_time, _memory, _threads)"
echo "postfix logins: not measured (its SASL needs Dovecot's auth service, not set up by the peers' scripts)"
exit "$status"
