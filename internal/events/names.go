// Package events holds the names that tie the programs together: NATS
// streams, subjects, headers and buckets of CONTRACT.md, their definitions,
// and the Seam event envelope.
package events

import "time"

// Streams and buckets named by the contract.
const (
	StreamSeamEvents       = "SEAM_EVENTS"
	StreamIssuanceCommands = "ISSUANCE_COMMANDS"
	StreamIssuanceEvents   = "ISSUANCE_EVENTS"
	BucketIssuances        = "ISSUANCES"
)

// Subjects named by the contract.
const (
	SeamEventsPrefix     = "seam.events."
	SeamEventsAll        = "seam.events.>"
	SeamQuarantine       = "seam.quarantine"
	CommandsPrefix       = "issuance.commands."
	CommandsAll          = "issuance.commands.>"
	CommandStart         = "issuance.commands.start"
	CommandRetry         = "issuance.commands.retry"
	CommandCancel        = "issuance.commands.cancel"
	IssuanceEventsPrefix = "issuance.events."
	IssuanceEventsAll    = "issuance.events.>"
)

// Headers on stored Seam events.
const (
	HeaderMsgID           = "Nats-Msg-Id"
	HeaderSeamEventID     = "Seam-Event-Id"
	HeaderSeamEventType   = "Seam-Event-Type"
	HeaderSeamWorkspaceID = "Seam-Workspace-Id"
	HeaderSvixTimestamp   = "Svix-Timestamp"
	// HeaderQuarantineReason says why a message went to seam.quarantine.
	HeaderQuarantineReason = "Seam-Quarantine-Reason"
)

// Retention and defaults from the contract.
const (
	SeamEventsMaxAge     = 7 * 24 * time.Hour
	IssuanceEventsMaxAge = 30 * 24 * time.Hour
	DefaultDedupWindow   = 48 * time.Hour
	CommandsDedupWindow  = 24 * time.Hour
	IssuanceEventsDedup  = 10 * time.Minute
)

// IssuanceEventSubject is where a state change of an issuance is published.
func IssuanceEventSubject(issuanceID, state string) string {
	return IssuanceEventsPrefix + issuanceID + "." + state
}

// SeamEventSubject returns the subject for a Seam event type, or false when
// the type cannot form valid subject tokens (such events go to
// SeamQuarantine). Tokens are limited to [A-Za-z0-9_-] so that no wildcard,
// whitespace or control byte can reach a subject.
func SeamEventSubject(eventType string) (string, bool) {
	if !ValidEventType(eventType) {
		return "", false
	}
	return SeamEventsPrefix + eventType, true
}

// MaxEventTypeLen bounds event types; Seam's longest is under 64 bytes.
const MaxEventTypeLen = 128

// ValidEventType reports whether an event type forms valid subject tokens.
func ValidEventType(t string) bool {
	if len(t) == 0 || len(t) > MaxEventTypeLen {
		return false
	}
	tokenLen := 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '.':
			if tokenLen == 0 {
				return false
			}
			tokenLen = 0
			continue
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
		tokenLen++
	}
	return tokenLen > 0
}
