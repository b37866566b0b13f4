// Package pop3read holds benchmarks of facteur's POP3 read path (login
// with the maildrop listing, RETR), pop3d over the store on loopback in
// one process, for CPU profiles that bench/mailread.sh cannot take of the
// running server:
//
//	go test ./bench/pop3read -run '^$' -bench . -cpuprofile /tmp/cpu.out
//	go tool pprof -top /tmp/cpu.out
//
// The maildrop holds -msgs messages (10,000) of about 5 KB, as
// mailread.sh's; the store and the adapter are those of facteur serve.
package pop3read
