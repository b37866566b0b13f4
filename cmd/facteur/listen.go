package main

import (
	"fmt"
	"net"

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
