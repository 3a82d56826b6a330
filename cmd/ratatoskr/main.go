package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit codes of the command, documented in usage and doc.go.
const (
	exitOK        = 0 // success
	exitRefused   = 1 // the server refused with a code (or decode -pub: the signature does not verify)
	exitUsage     = 2 // bad flags or arguments, or a file, key or input that cannot be used
	exitTransport = 3 // the endpoint could not be reached, or the connection failed
)

// benchCmd runs the bench subcommand. It is nil until bench.go, built
// separately, sets it in an init function, so that this package compiles
// with or without it.
var benchCmd func(args []string, stdout, stderr io.Writer) int

const usage = `ratatoskr talks to a Ratatoskr endpoint from a terminal: device keys,
development tokens, signed calls, frame decoding and load.

Usage:

	ratatoskr <command> [flags] [arguments]

Commands:

	keygen   make a device Ed25519 key pair (device.key, device.pub)
	token    mint a development device JWT
	call     connect, send one signed business request, print the answer
	decode   print a request or response frame decoded, and check its signature
	bench    generate load against an endpoint
	help     show help for a command

Run "ratatoskr help <command>" or "ratatoskr <command> -h" for its flags and examples.

Exit codes:

	0  success
	1  the server refused with a code (printed on stderr, or in --json output);
	   decode -pub: the signature does not verify
	2  usage: bad flags or arguments, or a file, key or input that cannot be used
	3  connection or transport: the endpoint could not be reached, or the
	   connection failed before the answer arrived

Environment:

	RATATOSKR_JWT_SECRET  HS256 secret for "token" (unless -secret-file or -issuer-key)
	RATATOSKR_TOKEN       device token for "call" (unless -token-file)

Example, against "go run ./example/server" started with the same RATATOSKR_JWT_SECRET:

	ratatoskr keygen -out device
	ratatoskr token -sub alice -device phone-1 -device-key device.pub > tok
	ratatoskr call -key device.key -token-file tok echo 'hello'
`

// env is what a command sees of the world.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// command is one subcommand.
type command struct {
	name string
	run  func(e *env, args []string) error
}

var commands = []command{
	{"keygen", runKeygen},
	{"token", runToken},
	{"call", runCall},
	{"decode", runDecode},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the command line entry: it runs the command args names and returns
// the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "help":
		return runHelp(e, rest)
	case "bench":
		if benchCmd == nil {
			fmt.Fprintln(stderr, "ratatoskr bench: not built")
			return exitUsage
		}
		return benchCmd(rest, stdout, stderr)
	}
	for _, c := range commands {
		if c.name == name {
			return exitCode(e, name, c.run(e, rest))
		}
	}
	fmt.Fprintf(stderr, "ratatoskr: unknown command %q\nRun \"ratatoskr help\" for usage.\n", name)
	return exitUsage
}

// runHelp prints the usage of the command args names, or the overview.
func runHelp(e *env, args []string) int {
	switch {
	case len(args) == 0:
		fmt.Fprint(e.stdout, usage)
		return exitOK
	case len(args) > 1:
		fmt.Fprintln(e.stderr, "usage: ratatoskr help [command]")
		return exitUsage
	case args[0] == "bench":
		if benchCmd == nil {
			fmt.Fprintln(e.stderr, "ratatoskr bench: not built")
			return exitUsage
		}
		// bench prints its own help on -h, to its stderr.
		return benchCmd([]string{"-h"}, e.stdout, e.stdout)
	}
	for _, c := range commands {
		if c.name == args[0] {
			// Help asked for is output, not a diagnostic: print it on stdout.
			he := *e
			he.stderr = e.stdout
			return exitCode(&he, c.name, c.run(&he, []string{"-h"}))
		}
	}
	fmt.Fprintf(e.stderr, "ratatoskr help: unknown command %q\n", args[0])
	return exitUsage
}

// exitError is an error with the exit code it calls for.
type exitError struct {
	code int
	err  error // nil: already reported (a flag error flag printed)
}

func (e *exitError) Error() string {
	if e.err == nil {
		return "exit " + fmt.Sprint(e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageErrorf is an error of exit code 2.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// withCode gives err the exit code code.
func withCode(code int, err error) error {
	return &exitError{code: code, err: err}
}

// errHelp is returned by a command whose -h was asked for.
var errHelp = errors.New("help requested")

// exitCode reports err on stderr, prefixed with the command's name, and
// returns its exit code. Errors without one are usage errors: everything
// that can fail before the network is the caller's input.
func exitCode(e *env, name string, err error) int {
	if err == nil || errors.Is(err, errHelp) {
		return exitOK
	}
	code := exitUsage
	var xe *exitError
	if errors.As(err, &xe) {
		code = xe.code
		if xe.err == nil {
			return code
		}
	}
	fmt.Fprintf(e.stderr, "ratatoskr %s: %v\n", name, err)
	return code
}

// newFlagSet returns the flag set of a command whose help text is help
// (synopsis, description and examples); its flags are listed after it.
func newFlagSet(e *env, name, help string) *flag.FlagSet {
	fs := flag.NewFlagSet("ratatoskr "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), strings.TrimLeft(help, "\n"))
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args with fs, letting flags and positional arguments
// mix ("call echo -n 3"); everything after "--" is positional. It returns
// the positional arguments. Flag errors have been printed by fs already.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, &exitError{code: exitUsage}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ", ") }

func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}
