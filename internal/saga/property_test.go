package saga

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// world is Seam as the property test models it: what really exists, whatever
// the saga managed to record.
type world struct {
	usersCreated int
	userID       string
	creds        []worldCred
	attempts     int
}

type worldCred struct {
	id     string
	issued bool
}

// allowed lists the state transitions of CONTRACT.md (plus entering from nothing).
var allowed = map[State][]State{
	"":                {Accepted, Rejected},
	Accepted:          {UserReady, Failed, Cancelled},
	UserReady:         {CredentialCreated, Failed, Cancelled},
	CredentialCreated: {Encoding, EncodingFailed, Failed, Cancelled},
	Encoding:          {Issued, EncodingFailed, Failed, Cancelled},
	// A confirming event after a failure: the card was written after all.
	EncodingFailed: {Encoding, EncodingFailed, Issued, Failed, Cancelled},
}

// TestDecideProperties drives the core with random commands, events, timers,
// call results, Seam failures and crashes (a call's result lost after the
// call did or did not take effect) and checks after every step that the
// version never drops and rises by one per state, that a terminal state is
// never left, that only allowed transitions happen, that Seam never holds
// a second user or credential for the issuance, and that it never receives a
// second encoding that no retry asked for.
func TestDecideProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		mode := rapid.SampledFrom([]string{ModeNew, ModeReplace, ModeUpdate}).Draw(t, "mode")
		cmd := startNewUser()
		cmd.Mode = mode
		if mode != ModeNew || rapid.Bool().Draw(t, "existingUser") {
			cmd.User, cmd.AcsUserID = nil, "u-existing"
		}
		if rapid.Bool().Draw(t, "pickEncoder") {
			cmd.AcsEncoderID = ""
		}
		w := &world{}
		if cmd.AcsUserID != "" {
			w.userID = cmd.AcsUserID
			w.creds = []worldCred{{id: "c-before", issued: true}}
		}
		now := t0
		var rec Record
		var call Call
		var timers []Timer
		nextID, retries := 0, 0
		id := func(p string) string { nextID++; return fmt.Sprintf("%s-%d", p, nextID) }

		step := func(in Input) {
			d := core.Decide(rec, in, now)
			if d.Changed {
				check(t, rec, d.Next)
				rec = d.Next
			} else if d.Next.Version != rec.Version || d.Next.State != rec.State {
				t.Fatalf("unchanged decision moved the state: %s → %s", rec.State, d.Next.State)
			}
			if d.Timer != nil {
				timers = append(timers, *d.Timer)
			}
			call = d.Call
			if call == nil && d.Changed {
				// The executor resumes after a change without a call.
				call = nil
				for i := 0; i < 10; i++ {
					d := core.Decide(rec, Resume{}, now)
					if d.Idle() {
						return
					}
					if d.Changed {
						check(t, rec, d.Next)
						rec = d.Next
					}
					if d.Timer != nil {
						timers = append(timers, *d.Timer)
					}
					if d.Call != nil {
						call = d.Call
						return
					}
				}
				t.Fatalf("resume did not settle")
			}
		}
		// perform runs a call against the world; effect says whether a
		// side effect happens (false: Seam refused before acting).
		perform := func(c Call) Input {
			switch c := c.(type) {
			case CreateUser:
				w.usersCreated++
				w.userID = id("u")
				return UserReadyResult{UserID: w.userID}
			case FindUser:
				if w.usersCreated > 0 {
					return UserReadyResult{UserID: w.userID}
				}
				return UserMissing{}
			case JoinGroups:
				return GroupsJoined{}
			case ListCredentials:
				var ids []string
				for _, c := range w.creds {
					ids = append(ids, c.id)
				}
				return CredentialsListed{Cards: ids}
			case DeleteCredential:
				if i := slices.IndexFunc(w.creds, func(x worldCred) bool { return x.id == c.CredentialID }); c.Compensation && i >= 0 && w.creds[i].issued {
					return Compensated{Kept: true, CardNumber: "card"}
				}
				w.creds = slices.DeleteFunc(w.creds, func(x worldCred) bool { return x.id == c.CredentialID })
				if c.Compensation {
					return Compensated{}
				}
				return OldDeleted{CredentialID: c.CredentialID}
			case CreateCredential:
				cid := id("c")
				w.creds = append(w.creds, worldCred{id: cid})
				return CredentialReady{CredentialID: cid}
			case FindCredential:
				for _, x := range w.creds {
					if !slices.Contains(c.Known, x.id) {
						return CredentialReady{CredentialID: x.id}
					}
				}
				return CredentialMissing{}
			case PickEncoder:
				if rapid.IntRange(0, 4).Draw(t, "encoderAvailable") == 0 {
					return EncoderPicked{Reason: "all offline"}
				}
				return EncoderPicked{EncoderID: "e-auto"}
			case Encode:
				w.attempts++
				return EncodeStarted{ActionAttemptID: id("a")}
			case ReadCredential:
				for _, x := range w.creds {
					if x.id == c.CredentialID {
						return CredentialRead{IsIssued: x.issued, CardNumber: "card"}
					}
				}
				return CallFailed{Type: "not_found", Message: "no credential"}
			case ReadAttempt:
				return AttemptRead{Status: rapid.SampledFrom([]string{"pending", "success", "error"}).Draw(t, "readStatus"),
					ErrorType:  rapid.SampledFrom([]string{"no_credential_on_encoder", "credential_cannot_be_reissued"}).Draw(t, "readError"),
					CardNumber: "card"}
			}
			t.Fatalf("unknown call %T", c)
			return nil
		}

		step(Start{Cmd: cmd})
		for i := 0; i < 60; i++ {
			now = now.Add(time.Duration(rapid.IntRange(0, 90).Draw(t, "seconds")) * time.Second)
			if call != nil {
				switch rapid.IntRange(0, 9).Draw(t, "callOutcome") {
				case 0: // crash before the call reached Seam
					call = nil
					step(Resume{})
				case 1: // crash after Seam acted, result lost
					perform(call)
					call = nil
					step(Resume{})
				case 2: // Seam refuses (non-retryable 4xx)
					call = nil
					step(CallFailed{Type: "invalid_input", Message: "refused"})
				default:
					step(perform(call))
				}
				continue
			}
			cid := rec.AcsCredentialID
			if rapid.Bool().Draw(t, "otherCredential") {
				cid = "c-unrelated"
			}
			evID := fmt.Sprintf("evt-%d", rapid.IntRange(0, 8).Draw(t, "eventID"))
			switch rapid.IntRange(0, 11).Draw(t, "external") {
			case 0:
				step(Start{Cmd: cmd})
			case 1:
				step(Cancel{})
			case 2:
				before := rec.Saga.RetryRequested
				step(Retry{EncoderID: rapid.SampledFrom([]string{"", "e-2"}).Draw(t, "retryEncoder")})
				if !before && rec.Saga.RetryRequested {
					retries++
				}
			case 3, 4:
				for j := range w.creds {
					if w.creds[j].id == rec.AcsCredentialID && w.attempts > 0 {
						w.creds[j].issued = true
					}
				}
				step(SeamEvent{Event: Event{ID: evID, Type: EventCredentialIssued, CredentialID: cid}})
			case 5:
				step(SeamEvent{Event: Event{ID: evID, Type: rapid.SampledFrom([]string{EventCredentialDeleted, EventCredentialInvalidated}).Draw(t, "credEvent"), CredentialID: cid}})
			case 6:
				step(SeamEvent{Event: Event{ID: evID, Type: EventEncoderRemoved, EncoderID: rec.AcsEncoderID}})
			case 7:
				step(SeamEvent{Event: Event{ID: evID, Type: "action_attempt.encode_credential.failed", ActionAttemptID: rec.ActionAttemptID,
					Status: rapid.SampledFrom([]string{"error", "success"}).Draw(t, "attemptStatus")}})
			case 8, 9:
				if len(timers) > 0 {
					tm := timers[rapid.IntRange(0, len(timers)-1).Draw(t, "timer")]
					if now.Before(tm.At) {
						now = tm.At
					}
					step(tm.Deadline)
				}
			default:
				step(Resume{})
			}
		}
		if w.attempts > retries+1 {
			t.Fatalf("Seam received %d encodings for one issuance with %d retries accepted", w.attempts, retries)
		}
		if w.usersCreated > 1 {
			t.Fatalf("Seam holds %d users created for one issuance", w.usersCreated)
		}
		created := 0
		for _, c := range w.creds {
			if c.id != "c-before" {
				created++
			}
		}
		if created > 1 {
			t.Fatalf("Seam holds %d credentials created for one issuance: %+v", created, w.creds)
		}
	})
}

func check(t *rapid.T, before, after Record) {
	if after.Version < before.Version {
		t.Fatalf("version dropped %d → %d", before.Version, after.Version)
	}
	if after.Version > before.Version+1 {
		t.Fatalf("version jumped %d → %d", before.Version, after.Version)
	}
	if before.State.Terminal() && (after.State != before.State || after.Version != before.Version) {
		t.Fatalf("left terminal state %s for %s", before.State, after.State)
	}
	if after.Version == before.Version {
		if after.State != before.State {
			t.Fatalf("state %s → %s without a version", before.State, after.State)
		}
		return
	}
	if !slices.Contains(allowed[before.State], after.State) {
		t.Fatalf("transition %q → %q not allowed", before.State, after.State)
	}
	if after.State == Issued && after.CardNumber == "" {
		t.Fatalf("issued without card_number")
	}
	if after.State == Encoding && after.Attempts < 1 {
		t.Fatalf("encoding without an attempt counted")
	}
}
