package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"

	"facteur/internal/store"
)

func runUser(env *cmdEnv, args []string) error {
	flags, pos, err := parseArgs(args, flagSpec{"password-stdin": false})
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageErr("usage: facteur user add|del|passwd NAME, facteur user list")
	}
	verb, names := pos[0], pos[1:]
	want := 1
	if verb == "list" {
		want = 0
	}
	if len(names) != want {
		return usageErr("usage: facteur user add|del|passwd NAME, facteur user list")
	}
	st, err := loadStore(env, flags)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	switch verb {
	case "list":
		users, err := st.Users(ctx)
		if err != nil {
			return err
		}
		for _, u := range users {
			fmt.Fprintln(env.stdout, u)
		}
		return nil
	case "del":
		return userErr(st.DeleteUser(ctx, names[0]), names[0])
	case "add", "passwd":
		pw, err := readPassword(env, flags["password-stdin"] != "")
		if err != nil {
			return err
		}
		if verb == "add" {
			return userErr(st.AddUser(ctx, names[0], pw), names[0])
		}
		return userErr(st.SetPassword(ctx, names[0], pw), names[0])
	}
	return usageErr("unknown user command %q (add, del, passwd, list)", verb)
}

func userErr(err error, name string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return &exitError{code: exNoUser, err: fmt.Errorf("no account %q", name)}
	case errors.Is(err, store.ErrExists):
		return &exitError{code: exDataErr, err: fmt.Errorf("account %q exists already", name)}
	}
	return err
}

// readPassword reads the password from the first line of stdin, or asks
// for it twice on a terminal.
func readPassword(env *cmdEnv, fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(env.stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("reading password from stdin: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", usageErr("empty password")
		}
		return pw, nil
	}
	f, ok := env.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usageErr("stdin is not a terminal: use --password-stdin")
	}
	ask := func(prompt string) (string, error) {
		fmt.Fprint(env.stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.stderr)
		return string(b), err
	}
	pw, err := ask("Password: ")
	if err != nil {
		return "", err
	}
	again, err := ask("Again: ")
	if err != nil {
		return "", err
	}
	if pw != again || pw == "" {
		return "", usageErr("passwords are empty or differ")
	}
	return pw, nil
}
