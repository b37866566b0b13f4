package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"facteur/internal/config"
	"facteur/internal/queue"
	"facteur/internal/store"
)

// loadConfig reads the configuration named by -config or $FACTEUR_CONFIG,
// or the embedded default, and prints its warnings.
func loadConfig(env *cmdEnv, flags map[string]string) (*config.Config, error) {
	path := flags["config"]
	if path == "" {
		path = env.getenv("FACTEUR_CONFIG")
	}
	host, _ := os.Hostname()
	cfg, warnings, err := config.Load(path, config.Options{Hostname: host})
	if err != nil {
		return nil, &exitError{code: exConfig, err: err}
	}
	for _, w := range warnings {
		fmt.Fprintf(env.stderr, "facteur: warning: %s\n", w)
	}
	return cfg, nil
}

// dataPath returns a path under data_directory.
func dataPath(cfg *config.Config, elem ...string) string {
	return filepath.Join(append([]string{cfg.Get("data_directory")}, elem...)...)
}

// openStore opens the store with the password hash cost of the
// configuration (new hashes only: existing ones keep theirs).
func openStore(cfg *config.Config, opt store.Options) (*store.Store, error) {
	opt.Argon2Time = uint32(cfg.Int("password_hash_time"))
	opt.Argon2MemoryKiB = uint32(cfg.Int("password_hash_memory") / 1024)
	opt.Argon2Threads = uint8(min(cfg.Int("password_hash_threads"), 255))
	dir := dataPath(cfg, "store")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	return store.OpenWith(dir, opt)
}

// loadStore opens the store of the configuration that flags name, for the
// commands that only need it.
func loadStore(env *cmdEnv, flags map[string]string) (*store.Store, error) {
	cfg, err := loadConfig(env, flags)
	if err != nil {
		return nil, err
	}
	return openStore(cfg, store.Options{})
}

func queueDir(cfg *config.Config) string { return dataPath(cfg, "queue") }

// openQueueReader opens the queue for the CLI, beside a running server.
func openQueueReader(cfg *config.Config) (*queue.Queue, error) {
	dir := queueDir(cfg)
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("no queue at %s (has the server run?)", dir)
	}
	return queue.OpenReader(dir)
}

// interfaceAddrs returns this machine's interface prefixes, for
// mynetworks_style and address literals that name this host.
func interfaceAddrs() []netip.Prefix {
	prefixes := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/8"),
		netip.MustParsePrefix("::1/128"),
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return prefixes
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if p, err := netip.ParsePrefix(ipn.String()); err == nil {
				prefixes = append(prefixes, p)
			}
		}
	}
	return prefixes
}

// domainList lower-cases the entries of a list parameter.
func domainList(cfg *config.Config, name string) []string {
	var out []string
	for _, d := range cfg.List(name) {
		out = append(out, strings.ToLower(strings.TrimSuffix(d, ".")))
	}
	return out
}

// specs returns a table-list parameter with relative paths resolved
// against the configuration file's directory.
func specs(cfg *config.Config, name string) []string {
	var out []string
	for _, spec := range cfg.List(name) {
		out = append(out, cfg.ResolveSpec(spec))
	}
	return out
}
