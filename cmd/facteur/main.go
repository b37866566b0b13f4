// Command facteur is a complete mail system: `facteur serve` runs the SMTP
// server, the queue manager and local delivery; the other subcommands
// manage users, mailboxes, the queue and the configuration.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// sysexits.h codes, as mail programs expect them.
const (
	exUsage    = 64
	exDataErr  = 65
	exNoUser   = 67
	exSoftware = 70
	exConfig   = 78
)

// exitError carries the process exit status up to main, the one place
// that exits.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: exUsage, err: fmt.Errorf(format, args...)}
}

type command struct {
	name    string
	summary string
	run     func(env *cmdEnv, args []string) error
}

// cmdEnv is what every subcommand gets: streams and environment, so that
// tests can run subcommands in-process.
type cmdEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

func commands() []command {
	return []command{
		{"serve", "run the mail server (SMTP, queue manager, local delivery)", runServe},
		{"config", "print configuration parameters (like postconf)", runConfig},
		{"user", "manage accounts: user add|del|passwd|list", runUser},
		{"mailbox", "look into mailboxes, move mail in and out: mailbox list|cat|count|import|export", runMailbox},
		{"queue", "look into and control the queue: queue list|show|flush|delete|hold|release|requeue", runQueue},
		{"sendmail", "submit a message as Postfix's sendmail(1) does (also run as sendmail or mailq)", runSendmail},
		{"inspect", "analyse a message: envelope, trace, header, MIME structure, problems", runInspect},
	}
}

func main() {
	env := &cmdEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(run(env, append(argv0Args(os.Args[0]), os.Args[1:]...)))
}

func run(env *cmdEnv, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(env.stdout)
		if len(args) == 0 {
			return exUsage
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(env, args[1:])
			if err == nil {
				return 0
			}
			fmt.Fprintf(env.stderr, "facteur %s: %v\n", c.name, err)
			var ee *exitError
			if errors.As(err, &ee) {
				return ee.code
			}
			return 1
		}
	}
	fmt.Fprintf(env.stderr, "facteur: unknown command %q\n", args[0])
	printUsage(env.stderr)
	return exUsage
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: facteur COMMAND [arguments] [-config FILE]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Without -config or $FACTEUR_CONFIG, the embedded default configuration is used.")
}

// flagSpec describes the flags a subcommand accepts: names (without
// dashes) mapped to whether they take a value.
type flagSpec map[string]bool

// parseArgs splits args into flags and positional arguments. Flags may
// appear anywhere (`facteur user add NAME -config FILE`), with one or two
// dashes, as `-name value` or `-name=value`; "--" ends the flags.
func parseArgs(args []string, spec flagSpec) (flags map[string]string, pos []string, err error) {
	flags = make(map[string]string)
	spec["config"] = true
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(pos, args[i+1:]...), nil
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		value, hasValue := "", false
		if k, v, ok := strings.Cut(name, "="); ok {
			name, value, hasValue = k, v, true
		}
		takesValue, known := spec[name]
		if !known {
			return nil, nil, usageErr("unknown flag %q", a)
		}
		switch {
		case takesValue && !hasValue:
			if i+1 >= len(args) {
				return nil, nil, usageErr("flag %q needs a value", a)
			}
			i++
			value = args[i]
		case !takesValue && hasValue:
			return nil, nil, usageErr("flag %q takes no value", a)
		case !takesValue:
			value = "true"
		}
		flags[name] = value
	}
	return flags, pos, nil
}
