package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/agentgate/agentgate/internal/auth"
)

// runKeys serves `agentgate keys create NAME`: it prints a new API key once
// and the configuration entry that stores only its hash.
func runKeys(args []string, stdout, stderr io.Writer) error {
	if len(args) != 2 || args[0] != "create" {
		fmt.Fprintln(stderr, "usage: agentgate keys create NAME")
		return errors.New("keys: expected 'create NAME'")
	}
	name := args[1]
	key, hash, err := auth.GenerateAPIKey()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `API key for %q (shown once; store it now):

  %s

Add to the configuration (auth.apiKeys); only the hash is kept:

  - name: %s
    hash: %s
`, name, key, name, hash)
	return nil
}

// runPasswd serves `agentgate passwd --file USERS USER`: it reads a
// password (without echo on a terminal, else one line of stdin) and adds
// or replaces the user's argon2id hash in the users file.
func runPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("file", "users.txt", "users `file` to update")
	replace := fs.Bool("replace", false, "replace the user's password if the user exists")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: agentgate passwd [--file users.txt] [--replace] USER")
		return errors.New("passwd: expected one user name")
	}
	user := fs.Arg(0)
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	if len(pw) < 8 {
		return errors.New("passwd: the password must have at least 8 characters")
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	save := auth.AppendUser
	if *replace {
		save = auth.ReplaceUser
	}
	if err := save(*file, user, hash); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: set the password of %q\n", *file, user)
	return nil
}

func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		return string(b), err
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
