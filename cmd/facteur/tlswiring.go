package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"facteur/internal/smtpd"
	"facteur/internal/tlsconf"
)

// listenParam is a listen parameter and the kind of port it serves.
type listenParam struct {
	param string
	port  smtpd.Port
	name  string // for the start-up line
}

// listenParams are the listen parameters, in start-up line order.
var listenParams = []listenParam{
	{"smtpd_listen", smtpd.PortSMTP, "SMTP"},
	{"submission_listen", smtpd.PortSubmission, "submission"},
	{"submissions_listen", smtpd.PortSubmissions, "submissions"},
}

// loadCerts loads the server certificate, or makes the self-signed one
// under data_directory/tls.
func (s *server) loadCerts() error {
	cfg := s.cfg
	certs, err := tlsconf.Load(tlsconf.Options{
		CertFile: cfg.Get("smtpd_tls_cert_file"),
		KeyFile:  cfg.Get("smtpd_tls_key_file"),
		Dir:      filepath.Join(cfg.Get("data_directory"), "tls"),
		Hostname: cfg.Get("myhostname"),
		Log:      s.log.Service("tlsmgr"),
	})
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	s.certs = certs
	return nil
}

// reloadOnHUP reloads the certificate on each SIGHUP until ctx is done.
// Sessions keep the keys they negotiated; the next handshake uses the new
// certificate.
func (s *server) reloadOnHUP(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	log := s.log.Service("master")
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := s.certs.Reload(); err != nil {
				log.Warn("reloading the TLS certificate: %v (the current one stays in use)", err)
				continue
			}
			log.Event("", "reload: TLS certificate for %s, valid until %s", strings.Join(s.certs.Leaf().DNSNames, ", "),
				s.certs.Leaf().NotAfter.UTC().Format("2006-01-02"))
		}
	}
}

// listen binds every listen parameter's addresses.
func (s *server) listen() error {
	s.ports = make(map[net.Listener]listenParam)
	for _, p := range listenParams {
		for _, addr := range s.cfg.List(p.param) {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("%s: %w", p.param, err)
			}
			s.lns = append(s.lns, ln)
			s.ports[ln] = p
		}
	}
	return nil
}

// serveSMTP runs the SMTP server on every listener until Shutdown.
func (s *server) serveSMTP(wg *sync.WaitGroup) {
	for _, ln := range s.lns {
		p := s.ports[ln]
		wg.Go(func() {
			if err := s.smtpd.ServePort(ln, p.port); !errors.Is(err, smtpd.ErrServerClosed) {
				s.log.Service("master").Warn("%s %s stopped: %v", p.param, ln.Addr(), err)
			}
		})
	}
}

// smtpdSecurity adds the TLS and AUTH settings to c.
func (s *server) smtpdSecurity(c *smtpd.Config) {
	cfg := s.cfg
	c.TLS = s.certs.Config()
	c.TLSLevel = cfg.Get("smtpd_tls_security_level")
	c.TLSAuthOnly = cfg.Bool("smtpd_tls_auth_only")
	c.AuthOnSMTP = cfg.Bool("smtpd_sasl_auth_enable")
	c.Auth = s.st
	c.AuthFailureLimit = int(cfg.Int("smtpd_auth_failure_limit"))
	c.AuthFailureWindow = cfg.Duration("smtpd_auth_failure_window")
	c.AuthFailureDelay = cfg.Duration("smtpd_auth_failure_delay")
	c.AuthFailures = s.logins
	c.Senders = s.pol
}

// where is the start-up line's list of listeners: "SMTP on 127.0.0.1:25,
// submission on 127.0.0.1:587".
func (s *server) where() string {
	var parts []string
	for _, p := range listenParams {
		var addrs []string
		for _, ln := range s.lns {
			if s.ports[ln].port == p.port {
				addrs = append(addrs, ln.Addr().String())
			}
		}
		if len(addrs) > 0 {
			parts = append(parts, p.name+" on "+strings.Join(addrs, ", "))
		}
	}
	if len(parts) == 0 {
		return "no SMTP listener (smtpd_listen is empty)"
	}
	return strings.Join(parts, "; ")
}
