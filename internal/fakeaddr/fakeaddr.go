// Package fakeaddr gives the connections a listener accepts a chosen
// remote address, so that a test on loopback can stand for a client that
// is not: the servers treat loopback clients differently (plain-text
// logins, relay by mynetworks).
package fakeaddr

import "net"

// Listener returns ln with every accepted connection reporting remote
// as its RemoteAddr.
func Listener(ln net.Listener, remote net.Addr) net.Listener {
	return listener{ln, remote}
}

type listener struct {
	net.Listener
	remote net.Addr
}

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return conn{c, l.remote}, nil
}

type conn struct {
	net.Conn
	remote net.Addr
}

func (c conn) RemoteAddr() net.Addr { return c.remote }
