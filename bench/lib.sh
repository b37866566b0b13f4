# lib.sh - what the bench scripts share; sourced, not run.

# wait_port HOST PORT: until something accepts connections there (10 s at most).
wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1:$2" >&2; return 1
}
