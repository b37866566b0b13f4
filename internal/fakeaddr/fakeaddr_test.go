package fakeaddr

import (
	"net"
	"testing"
)

func TestListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	remote := &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 4000}
	fl := Listener(ln, remote)
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Close()
		}
	}()
	c, err := fl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.RemoteAddr().String(); got != "192.0.2.7:4000" {
		t.Errorf("RemoteAddr = %s, want 192.0.2.7:4000", got)
	}
	if fl.Addr().String() != ln.Addr().String() {
		t.Errorf("Addr = %s, want the listener's %s", fl.Addr(), ln.Addr())
	}
}
