// Command backend is what a backend does to have a key card issued: it
// publishes a StartIssuance on NATS JetStream, follows the issuance's states
// until it ends, and answers a failed encoding with a retry or a cancel.
//
// It is documentation in code form, meant to be copied: it depends only on
// the standard library and nats.go, and declares the JSON of CONTRACT.md
// itself instead of importing this module's internal packages.
//
//	go run ./examples/backend -nats-url nats://127.0.0.1:4222 -name "Jane Doe"
//	go run ./examples/backend -json | jq -c '{state, version}'
//	go run ./examples/backend -acs-user-id <id> -mode replace   # a lost card
//
// Exit status: 0 when the card is issued, 1 when the issuance ends
// otherwise (failed, cancelled, rejected) or does not end in time, 2 on a
// bad flag.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names fixed by CONTRACT.md.
const (
	commandsStream = "ISSUANCE_COMMANDS"
	eventsStream   = "ISSUANCE_EVENTS"
	subjectStart   = "issuance.commands.start"
	subjectRetry   = "issuance.commands.retry"
	subjectCancel  = "issuance.commands.cancel"
)

// StartIssuance is the start command (CONTRACT.md, "StartIssuance").
type StartIssuance struct {
	IssuanceID        string   `json:"issuance_id"`
	AcsSystemID       string   `json:"acs_system_id"`
	AcsUserID         string   `json:"acs_user_id,omitempty"`
	User              *User    `json:"user,omitempty"`
	AcsAccessGroupIDs []string `json:"acs_access_group_ids,omitempty"`
	Mode              string   `json:"mode,omitempty"`
	AcsEncoderID      string   `json:"acs_encoder_id,omitempty"`
	StartsAt          string   `json:"starts_at,omitempty"`
	EndsAt            string   `json:"ends_at,omitempty"`
}

// User is the access system user to create when no acs_user_id is given.
type User struct {
	FullName     string `json:"full_name"`
	EmailAddress string `json:"email_address,omitempty"`
	PhoneNumber  string `json:"phone_number,omitempty"`
}

// IssuanceCommand is the body of a retry or cancel command.
type IssuanceCommand struct {
	IssuanceID string `json:"issuance_id"`
}

// IssuanceState is what the worker publishes on every state change
// (CONTRACT.md, "IssuanceState"); only the fields used here are declared.
type IssuanceState struct {
	IssuanceID      string     `json:"issuance_id"`
	Version         int        `json:"version"`
	State           string     `json:"state"`
	AcsUserID       string     `json:"acs_user_id"`
	AcsCredentialID string     `json:"acs_credential_id"`
	CardNumber      string     `json:"card_number"`
	IssuedAt        *time.Time `json:"issued_at"`
	Error           *struct {
		Type      string `json:"type"`
		Message   string `json:"message"`
		Retryable bool   `json:"retryable"`
	} `json:"error"`
	Attempts int `json:"attempts"`
}

type options struct {
	natsURL, natsCreds string
	start              StartIssuance
	timeout            time.Duration
	autoRetry          int
	json               bool
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	} else if err != nil {
		os.Exit(2) // already said what is wrong
	}
	// Ctrl-C or SIGTERM only stops following: the issuance goes on in the
	// worker, and its states stay in ISSUANCE_EVENTS to be read later.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, o, os.Stdin, os.Stdout, os.Stderr))
}

func parseFlags(args []string) (options, error) {
	var o options
	var name, phone, email, groups string
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	fs.StringVar(&o.natsURL, "nats-url", envOr("NATS_URL", nats.DefaultURL), "NATS server(s), comma-separated (env NATS_URL)")
	fs.StringVar(&o.natsCreds, "nats-creds", os.Getenv("NATS_CREDS"), "path of a NATS .creds file (env NATS_CREDS)")
	fs.StringVar(&o.start.IssuanceID, "id", "", "issuance id, the idempotency key: running again with the same id follows the same issuance (default: a new bk-<unix>-<random>)")
	fs.StringVar(&o.start.AcsSystemID, "system", "11111111-1111-1111-1111-111111111111", "acs_system_id of the Salto Space system")
	fs.StringVar(&name, "name", "Jane Doe", "full name of the user to create")
	fs.StringVar(&phone, "phone", "+15555550100", "phone number of the user to create")
	fs.StringVar(&email, "email", "", "email address of the user to create")
	fs.StringVar(&o.start.AcsUserID, "acs-user-id", "", "an existing access system user (instead of -name, -phone, -email)")
	fs.StringVar(&groups, "groups", "44444444-4444-4444-4444-333333333333,44444444-4444-4444-4444-444444444444", "access group ids, comma-separated")
	fs.StringVar(&o.start.Mode, "mode", "new", "new (first card), replace (lost card) or update (changed access)")
	fs.StringVar(&o.start.AcsEncoderID, "encoder", "", "acs_encoder_id; default: the worker picks the system's first healthy encoder")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up following after this long (the issuance itself goes on)")
	fs.IntVar(&o.autoRetry, "auto-retry", 0, "retry a failed encoding up to N times without asking; 0 asks the operator on stdin")
	fs.BoolVar(&o.json, "json", false, "print each state as one JSON line on stdout (messages go to stderr)")
	if err := fs.Parse(args); err != nil {
		return o, err // the flag package has said what is wrong
	}
	bad := func(format string, a ...any) (options, error) {
		err := fmt.Errorf(format, a...)
		fmt.Fprintln(os.Stderr, "backend:", err)
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return bad("unexpected argument %q", fs.Arg(0))
	case o.start.Mode != "new" && o.start.Mode != "replace" && o.start.Mode != "update":
		return bad("-mode must be new, replace or update, got %q", o.start.Mode)
	case o.timeout <= 0:
		return bad("-timeout must be positive")
	case o.autoRetry < 0:
		return bad("-auto-retry must not be negative")
	}
	if o.start.IssuanceID == "" {
		o.start.IssuanceID = newIssuanceID()
	}
	// The contract wants exactly one of acs_user_id and user.
	if o.start.AcsUserID == "" {
		o.start.User = &User{FullName: name, PhoneNumber: phone, EmailAddress: email}
	}
	for _, g := range strings.Split(groups, ",") {
		if g = strings.TrimSpace(g); g != "" {
			o.start.AcsAccessGroupIDs = append(o.start.AcsAccessGroupIDs, g)
		}
	}
	// Other mistakes (a malformed id, replace for a new user) are the
	// worker's to judge: it answers with a rejected state saying what is
	// wrong, which this program prints like any other state.
	return o, nil
}

func run(ctx context.Context, o options, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	id := o.start.IssuanceID
	// Human messages go with the states, unless stdout carries JSON only.
	msgs := stdout
	if o.json {
		msgs = stderr
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "backend: "+format+"\n", a...)
		return 1
	}

	connOpts := []nats.Option{nats.Name("seamcards-example-backend")}
	if o.natsCreds != "" {
		connOpts = append(connOpts, nats.UserCredentials(o.natsCreds))
	}
	nc, err := nats.Connect(o.natsURL, connOpts...)
	if err != nil {
		return fail("connect to NATS at %s: %v", o.natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fail("%v", err)
	}

	// The worker creates these streams when it starts. It need not be
	// running now: a command waits in ISSUANCE_COMMANDS until one consumes
	// it. But without the streams there is nowhere to put the command.
	for _, name := range []string{commandsStream, eventsStream} {
		if _, err := js.Stream(ctx, name); errors.Is(err, jetstream.ErrStreamNotFound) {
			return fail("stream %s does not exist on %s: the worker (or `go run ./cmd/demo -keep`) must have run once to create it", name, o.natsURL)
		} else if err != nil {
			return fail("look up stream %s: %v", name, err)
		}
	}

	// Subscribe BEFORE publishing, and from the first message: an ordered
	// consumer with DeliverAll replays every state already stored for this
	// id, so neither a fast worker nor a re-run with the same id loses one.
	cons, err := js.OrderedConsumer(ctx, eventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"issuance.events." + id + ".>"},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fail("follow issuance %s: %v", id, err)
	}
	states := make(chan jetstream.Msg, 16)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case states <- m:
		case <-ctx.Done():
		}
	})
	if err != nil {
		return fail("follow issuance %s: %v", id, err)
	}
	defer cc.Stop()

	// Nats-Msg-Id = issuance_id: publishing the same start twice (a retried
	// publish, a re-run) is dropped by the stream, and the worker treats the
	// id as the idempotency key anyway.
	ack, err := publish(ctx, js, subjectStart, o.start, id)
	if err != nil {
		return fail("publish start: %v", err)
	}
	if ack.Duplicate {
		fmt.Fprintf(msgs, "issuance %s was already started; following it\n", id)
	} else {
		fmt.Fprintf(msgs, "issuance %s started\n", id)
	}

	// Operator answers come from stdin, read in the background so that
	// states keep printing while nobody types.
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			select {
			case lines <- strings.TrimSpace(sc.Text()):
			case <-ctx.Done():
				return
			}
		}
	}()

	// A hint when nothing comes: the command is safe in the stream, but
	// someone has to start a worker.
	quiet := time.NewTimer(10 * time.Second)
	defer quiet.Stop()

	var last IssuanceState
	asking := false // an encoding_failed state waits for the operator
	autoRetries := 0
	for {
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fail("timed out after %s; last state %q. The issuance goes on in the worker", o.timeout, last.State)
			}
			return fail("interrupted; last state %q. The issuance goes on in the worker", last.State)

		case <-quiet.C:
			if last.Version == 0 {
				fmt.Fprintln(msgs, "no state yet: is a worker running? The command waits in", commandsStream, "until one is.")
			}

		case line, ok := <-lines:
			if !ok {
				lines = nil // stdin closed: no operator
				if asking {
					return fail("stdin closed; issuance %s stays in encoding_failed until a retry or cancel command", id)
				}
				continue
			}
			if !asking {
				continue // typed while not asked: ignored
			}
			cmd := subjectRetry
			if strings.EqualFold(line, "cancel") {
				cmd = subjectCancel
			} else if line != "" {
				fmt.Fprint(msgs, "press Enter to retry, or type cancel: ")
				continue
			}
			if code := answer(ctx, js, cmd, last, msgs, stderr); code != 0 {
				return code
			}
			asking = false

		case m := <-states:
			var st IssuanceState
			if err := json.Unmarshal(m.Data(), &st); err != nil {
				fmt.Fprintf(stderr, "backend: ignoring a state that is not JSON on %s: %v\n", m.Subject(), err)
				continue
			}
			// States can come twice (a redelivery, a worker republishing
			// after a crash); version rises by one per state, so anything
			// not newer than what was seen is old news.
			if st.Version <= last.Version {
				continue
			}
			last = st
			printState(stdout, m.Data(), st, o.json)

			switch st.State {
			case "issued":
				fmt.Fprintf(msgs, "card issued: card number %s\n", st.CardNumber)
				return 0
			case "failed", "cancelled", "rejected":
				fmt.Fprintf(msgs, "issuance %s ended %s\n", id, st.State)
				return 1
			case "encoding_failed":
				// A retryable failure, such as no card on the encoder: the
				// worker parks the issuance until told to retry or cancel.
				if autoRetries < o.autoRetry {
					autoRetries++
					fmt.Fprintf(msgs, "retrying automatically (%d of %d)\n", autoRetries, o.autoRetry)
					if code := answer(ctx, js, subjectRetry, st, msgs, stderr); code != 0 {
						return code
					}
					continue
				}
				if lines == nil {
					return fail("no operator on stdin; issuance %s stays in encoding_failed until a retry or cancel command", id)
				}
				asking = true
				fmt.Fprint(msgs, "Place a blank card on the encoder and press Enter to retry, or type cancel: ")
			default:
				asking = false // someone else answered the failure
			}
		}
	}
}

// answer publishes a retry or cancel for the encoding failure st.
func answer(ctx context.Context, js jetstream.JetStream, subject string, st IssuanceState, msgs, stderr io.Writer) int {
	// Nats-Msg-Id <id>:<command>:<nonce>. The stream drops a second
	// message with the same id (within its duplicate window), so the nonce
	// must differ between the answers to two different failures, or the
	// second retry would be silently dropped; and should be the same for
	// two answers to one failure, so a re-sent publish or a second
	// operator answering the same prompt counts once. The version of the
	// encoding_failed state is exactly that: it names the failure.
	verb := strings.TrimPrefix(subject, "issuance.commands.")
	msgID := fmt.Sprintf("%s:%s:v%d", st.IssuanceID, verb, st.Version)
	if _, err := publish(ctx, js, subject, IssuanceCommand{IssuanceID: st.IssuanceID}, msgID); err != nil {
		fmt.Fprintf(stderr, "backend: publish %s: %v\n", verb, err)
		return 1
	}
	fmt.Fprintf(msgs, "%s sent\n", verb)
	return 0
}

// publish sends a command with JetStream, which answers only once the
// stream has stored it. WithExpectStream makes a misrouted subject an error
// instead of a message stored elsewhere.
func publish(ctx context.Context, js jetstream.JetStream, subject string, v any, msgID string) (*jetstream.PubAck, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return js.Publish(ctx, subject, data, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(commandsStream))
}

func printState(w io.Writer, raw []byte, st IssuanceState, asJSON bool) {
	if asJSON {
		// The state as published, on one line, with every field (also
		// those this program does not declare).
		var b bytes.Buffer
		if json.Compact(&b, raw) == nil {
			fmt.Fprintln(w, b.String())
		}
		return
	}
	line := fmt.Sprintf("v%-2d %-18s", st.Version, st.State)
	for _, f := range [][2]string{{"acs_user_id", st.AcsUserID}, {"acs_credential_id", st.AcsCredentialID}, {"card_number", st.CardNumber}} {
		if f[1] != "" {
			line += " " + f[0] + "=" + f[1]
		}
	}
	if e := st.Error; e != nil {
		line += fmt.Sprintf(" error=%s retryable=%t message=%q", e.Type, e.Retryable, e.Message)
	}
	fmt.Fprintln(w, strings.TrimRight(line, " "))
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// newIssuanceID makes an id that is new every run. A real backend derives
// it from its own record (an order, a booking) so that a retry of its own
// request reuses the id and cannot issue a second card.
func newIssuanceID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return fmt.Sprintf("bk-%d-%s", time.Now().Unix(), hex.EncodeToString(b))
}
