package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"facteur/internal/config"
)

// bindParams binds the addresses of each listen parameter: one slice
// of listeners per parameter, in order. On an error nothing stays bound.
func bindParams(cfg *config.Config, params ...string) ([][]net.Listener, error) {
	out := make([][]net.Listener, len(params))
	for i, p := range params {
		for _, addr := range cfg.List(p) {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				closeListeners(out...)
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			out[i] = append(out[i], ln)
		}
	}
	return out, nil
}

func closeListeners(lns ...[]net.Listener) {
	for _, l := range lns {
		for _, ln := range l {
			ln.Close()
		}
	}
}

// accessServer is a mail access server, as pop3d's and imapd's are: it
// serves listeners in plain text (with STARTTLS) or implicit TLS.
type accessServer interface {
	Serve(ln net.Listener, implicitTLS bool) error
	Close() error
}

// serveAccess serves proto on the plain and implicit-TLS listeners in
// goroutines of wg, and closes srv when ctx is done. closed is the error
// Serve returns once srv is closed.
func (s *server) serveAccess(ctx context.Context, wg *sync.WaitGroup, proto string, plain, implicit []net.Listener, srv accessServer, closed error) {
	var where []string
	for _, l := range []struct {
		lns      []net.Listener
		implicit bool
		name     string
	}{{plain, false, proto}, {implicit, true, proto + "S"}} {
		for _, ln := range l.lns {
			wg.Go(func() {
				if err := srv.Serve(ln, l.implicit); !errors.Is(err, closed) {
					s.log.Service("master").Warn("%s listener %s stopped: %v", l.name, ln.Addr(), err)
				}
			})
			where = append(where, l.name+" on "+ln.Addr().String())
		}
	}
	s.log.Service("master").Event("", "%s", strings.Join(where, "; "))
	s.access = append(s.access, where...)
	wg.Go(func() {
		<-ctx.Done()
		srv.Close()
	})
}
