package seamsim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"
)

// The JSON shapes seamsim answers with, field for field as Seam's document
// names them (internal/seam/seamspec); the tests validate every answer and
// event against the document, unknown fields included.

type wireSystem struct {
	AcsSystemID             string       `json:"acs_system_id"`
	Name                    string       `json:"name"`
	ExternalType            string       `json:"external_type"`
	ExternalTypeDisplayName string       `json:"external_type_display_name"`
	IsCredentialManager     bool         `json:"is_credential_manager"`
	Location                wireLocation `json:"location"`
	CreatedAt               string       `json:"created_at"`
	WorkspaceID             string       `json:"workspace_id"`
	ConnectedAccountID      string       `json:"connected_account_id"`
	ConnectedAccountIDs     []string     `json:"connected_account_ids"`
	ImageURL                string       `json:"image_url"`
	ImageAltText            string       `json:"image_alt_text"`
	AcsUserCount            int          `json:"acs_user_count"`
	AcsAccessGroupCount     int          `json:"acs_access_group_count"`
	Errors                  []wireIssue  `json:"errors"`
	Warnings                []wireIssue  `json:"warnings"`
}

type wireLocation struct {
	TimeZone *string `json:"time_zone"`
}

// wireIssue is an entry of an errors or warnings list.
type wireIssue struct {
	ErrorCode   string `json:"error_code,omitempty"`
	WarningCode string `json:"warning_code,omitempty"`
	Message     string `json:"message"`
	CreatedAt   string `json:"created_at"`
}

type wireUser struct {
	AcsUserID               string      `json:"acs_user_id"`
	AcsSystemID             string      `json:"acs_system_id"`
	WorkspaceID             string      `json:"workspace_id"`
	ConnectedAccountID      string      `json:"connected_account_id"`
	CreatedAt               string      `json:"created_at"`
	DisplayName             string      `json:"display_name"`
	FullName                string      `json:"full_name"`
	EmailAddress            string      `json:"email_address,omitempty"`
	PhoneNumber             string      `json:"phone_number,omitempty"`
	ExternalType            string      `json:"external_type"`
	ExternalTypeDisplayName string      `json:"external_type_display_name"`
	IsManaged               bool        `json:"is_managed"`
	IsSuspended             bool        `json:"is_suspended"`
	LastSuccessfulSyncAt    *string     `json:"last_successful_sync_at"`
	Errors                  []wireIssue `json:"errors"`
	Warnings                []wireIssue `json:"warnings"`
}

type wireGroup struct {
	AcsAccessGroupID           string      `json:"acs_access_group_id"`
	AcsSystemID                string      `json:"acs_system_id"`
	WorkspaceID                string      `json:"workspace_id"`
	ConnectedAccountID         string      `json:"connected_account_id"`
	Name                       string      `json:"name"`
	DisplayName                string      `json:"display_name"`
	AccessGroupType            string      `json:"access_group_type"`
	AccessGroupTypeDisplayName string      `json:"access_group_type_display_name"`
	ExternalType               string      `json:"external_type"`
	ExternalTypeDisplayName    string      `json:"external_type_display_name"`
	CreatedAt                  string      `json:"created_at"`
	IsManaged                  bool        `json:"is_managed"`
	Errors                     []wireIssue `json:"errors"`
	Warnings                   []wireIssue `json:"warnings"`
	PendingMutations           []any       `json:"pending_mutations"`
}

type wireCredential struct {
	AcsCredentialID            string      `json:"acs_credential_id"`
	AcsUserID                  string      `json:"acs_user_id"`
	AcsSystemID                string      `json:"acs_system_id"`
	WorkspaceID                string      `json:"workspace_id"`
	ConnectedAccountID         string      `json:"connected_account_id"`
	DisplayName                string      `json:"display_name"`
	AccessMethod               string      `json:"access_method"`
	ExternalType               string      `json:"external_type"`
	ExternalTypeDisplayName    string      `json:"external_type_display_name"`
	CardNumber                 *string     `json:"card_number"`
	IsIssued                   bool        `json:"is_issued"`
	IssuedAt                   *string     `json:"issued_at"`
	StartsAt                   string      `json:"starts_at,omitempty"`
	EndsAt                     string      `json:"ends_at,omitempty"`
	CreatedAt                  string      `json:"created_at"`
	IsManaged                  bool        `json:"is_managed"`
	IsMultiPhoneSyncCredential bool        `json:"is_multi_phone_sync_credential"`
	Errors                     []wireIssue `json:"errors"`
	Warnings                   []wireIssue `json:"warnings"`
}

type wireEncoder struct {
	AcsEncoderID       string      `json:"acs_encoder_id"`
	AcsSystemID        string      `json:"acs_system_id"`
	WorkspaceID        string      `json:"workspace_id"`
	ConnectedAccountID string      `json:"connected_account_id"`
	DisplayName        string      `json:"display_name"`
	CreatedAt          string      `json:"created_at"`
	Errors             []wireIssue `json:"errors"`
}

type wireAttempt struct {
	ActionAttemptID string          `json:"action_attempt_id"`
	ActionType      string          `json:"action_type"`
	Status          string          `json:"status"`
	Result          *wireCredential `json:"result"`
	Error           *wireError      `json:"error"`
}

type wireError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

type wirePagination struct {
	HasNextPage    bool    `json:"has_next_page"`
	NextPageCursor *string `json:"next_page_cursor"`
	NextPageURL    *string `json:"next_page_url"`
}

// wireEvent is a webhook body. Only the id fields of its event type are set.
type wireEvent struct {
	EventID            string `json:"event_id"`
	EventType          string `json:"event_type"`
	WorkspaceID        string `json:"workspace_id"`
	ConnectedAccountID string `json:"connected_account_id"`
	CreatedAt          string `json:"created_at"`
	OccurredAt         string `json:"occurred_at"`
	AcsSystemID        string `json:"acs_system_id"`
	AcsCredentialID    string `json:"acs_credential_id,omitempty"`
	AcsUserID          string `json:"acs_user_id,omitempty"`
	AcsEncoderID       string `json:"acs_encoder_id,omitempty"`
}

// stamp formats a time as Seam does: UTC, milliseconds.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomBase64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newMsgID makes a Svix message id: msg_ and 27 base62 characters.
func newMsgID() string {
	b := make([]byte, 27)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = base62[int(b[i])%len(base62)]
	}
	return "msg_" + string(b)
}

func encodeCursor(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func decodeCursor(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
