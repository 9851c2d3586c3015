// Package config reads a program's settings from environment variables and
// command-line flags, as CONTRACT.md describes: every setting has an
// environment variable (NATS_URL) and a flag (-nats-url); a flag wins over the
// environment, and a missing or malformed setting is one error naming it.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// ExitCode is the status a program exits with on a configuration error.
const ExitCode = 2

// Error names the setting that is missing or malformed.
type Error struct {
	Setting string // the environment variable's name, e.g. SEAM_WEBHOOK_SECRET
	Reason  string
}

func (e *Error) Error() string { return e.Setting + ": " + e.Reason }

// Set collects the settings of one program. Register settings, then Parse.
type Set struct {
	fs       *flag.FlagSet
	lookup   func(string) (string, bool)
	settings []*setting
}

type setting struct {
	env      string
	def      string
	parse    func(string) error
	required bool
	secret   bool // never quote the value
	fromFlag bool
	value    string
}

// New returns an empty Set for the named program. lookupEnv is normally
// os.LookupEnv; tests pass their own.
func New(program string, lookupEnv func(string) (string, bool)) *Set {
	fs := flag.NewFlagSet(program, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	return &Set{fs: fs, lookup: lookupEnv}
}

// FlagName is the flag spelling of an environment variable: NATS_URL → nats-url.
func FlagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(env), "_", "-")
}

type flagValue struct{ s *setting }

func (f flagValue) String() string {
	if f.s == nil {
		return ""
	}
	if f.s.secret {
		return ""
	}
	return f.s.def
}

func (f flagValue) Set(v string) error {
	f.s.fromFlag = true
	f.s.value = v
	return nil
}

func (s *Set) add(env, def, usage string, parse func(string) error) *setting {
	st := &setting{env: env, def: def, parse: parse}
	s.settings = append(s.settings, st)
	s.fs.Var(flagValue{st}, FlagName(env), usage+" (env "+env+")")
	return st
}

// String registers a text setting.
func (s *Set) String(env, def, usage string) *string {
	p := new(string)
	s.add(env, def, usage, func(v string) error { *p = v; return nil })
	return p
}

// Secret registers a text setting that is never shown in usage or errors.
func (s *Set) Secret(env, usage string) *string {
	p := new(string)
	st := s.add(env, "", usage, func(v string) error { *p = v; return nil })
	st.secret = true
	return p
}

// Int registers an integer setting that must lie in [min, max].
func (s *Set) Int(env string, def, min, max int, usage string) *int {
	p := new(int)
	s.add(env, strconv.Itoa(def), usage, func(v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return errors.New("not an integer")
		}
		if n < min || n > max {
			return fmt.Errorf("must be between %d and %d", min, max)
		}
		*p = n
		return nil
	})
	return p
}

// Duration registers a positive duration setting (Go syntax: 90s, 2m, 48h).
func (s *Set) Duration(env string, def time.Duration, usage string) *time.Duration {
	p := new(time.Duration)
	s.add(env, def.String(), usage, func(v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return errors.New("not a duration (examples: 90s, 2m, 48h)")
		}
		if d <= 0 {
			return errors.New("must be positive")
		}
		*p = d
		return nil
	})
	return p
}

// OneOf registers a text setting restricted to the given values.
func (s *Set) OneOf(env, def string, allowed []string, usage string) *string {
	p := new(string)
	s.add(env, def, usage+" (one of "+strings.Join(allowed, ", ")+")", func(v string) error {
		for _, a := range allowed {
			if v == a {
				*p = v
				return nil
			}
		}
		return fmt.Errorf("must be one of %s", strings.Join(allowed, ", "))
	})
	return p
}

// Required marks the most recently registered setting as required.
func (s *Set) Required() *Set {
	s.settings[len(s.settings)-1].required = true
	return s
}

// Check registers a validation run after every setting has been parsed; a
// non-nil error is reported against env.
func (s *Set) Check(env string, check func() error) {
	s.settings = append(s.settings, &setting{env: env, secret: true, parse: func(string) error { return check() }})
}

// Parse reads flags from args and the environment for settings without a
// flag. The first problem is returned as *Error; -h returns flag.ErrHelp.
func (s *Set) Parse(args []string) error {
	if err := s.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &Error{Setting: "flags", Reason: err.Error()}
	}
	if s.fs.NArg() > 0 {
		return &Error{Setting: "flags", Reason: fmt.Sprintf("unexpected argument %q", s.fs.Arg(0))}
	}
	for _, st := range s.settings {
		v, present := st.value, st.fromFlag
		if !present {
			if ev, ok := s.lookup(st.env); ok && ev != "" {
				v, present = ev, true
			}
		}
		if !present {
			if st.required {
				return &Error{Setting: st.env, Reason: "required but not set"}
			}
			v = st.def
		}
		if err := st.parse(v); err != nil {
			reason := err.Error()
			if !st.secret && present {
				reason = fmt.Sprintf("%q: %s", v, reason)
			}
			return &Error{Setting: st.env, Reason: reason}
		}
	}
	return nil
}

// ParseMain is Parse for a program's main: with -h it writes the usage to
// stdout, with a problem Fail's line to stderr, and then ok is false and code
// is the exit status (0 after -h).
func (s *Set) ParseMain(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	err := s.Parse(args)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		s.Usage(stdout)
		return 0, false
	default:
		return Fail(stderr, s.fs.Name(), err), false
	}
}

// Usage writes the flag list to w.
func (s *Set) Usage(w io.Writer) {
	s.fs.SetOutput(w)
	fmt.Fprintf(w, "Usage of %s:\n", s.fs.Name())
	s.fs.PrintDefaults()
	s.fs.SetOutput(io.Discard)
}

// Fail prints a configuration error as one line and returns the exit code.
// Programs call it as os.Exit(config.Fail(...)).
func Fail(w io.Writer, program string, err error) int {
	fmt.Fprintf(w, "%s: configuration: %v\n", program, err)
	return ExitCode
}
