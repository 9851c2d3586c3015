package seam

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The resources below carry the fields this product reads, named exactly as
// in Seam's OpenAPI document (internal/seam/seamspec); Seam sends more, which
// decoding ignores. A test checks every json name against the document.

// ResourceError is an entry of a resource's errors list.
type ResourceError struct {
	ErrorCode string    `json:"error_code"`
	Message   string    `json:"message"`
	CreatedAt time.Time `json:"created_at"`
}

// ResourceWarning is an entry of a resource's warnings list.
type ResourceWarning struct {
	WarningCode string    `json:"warning_code"`
	Message     string    `json:"message"`
	CreatedAt   time.Time `json:"created_at"`
}

// ACSSystem is an access system (acs_system).
type ACSSystem struct {
	AcsSystemID             string            `json:"acs_system_id"`
	Name                    string            `json:"name"`
	ExternalType            string            `json:"external_type"`
	ExternalTypeDisplayName string            `json:"external_type_display_name"`
	WorkspaceID             string            `json:"workspace_id"`
	ConnectedAccountID      string            `json:"connected_account_id"`
	IsCredentialManager     bool              `json:"is_credential_manager"`
	CreatedAt               time.Time         `json:"created_at"`
	Errors                  []ResourceError   `json:"errors"`
	Warnings                []ResourceWarning `json:"warnings"`
}

// ACSUser is an access system user (acs_user).
type ACSUser struct {
	AcsUserID          string            `json:"acs_user_id"`
	AcsSystemID        string            `json:"acs_system_id"`
	WorkspaceID        string            `json:"workspace_id"`
	ConnectedAccountID string            `json:"connected_account_id"`
	DisplayName        string            `json:"display_name"`
	FullName           string            `json:"full_name"`
	EmailAddress       string            `json:"email_address"`
	PhoneNumber        string            `json:"phone_number"`
	ExternalType       string            `json:"external_type"`
	IsManaged          bool              `json:"is_managed"`
	IsSuspended        bool              `json:"is_suspended"`
	CreatedAt          time.Time         `json:"created_at"`
	Errors             []ResourceError   `json:"errors"`
	Warnings           []ResourceWarning `json:"warnings"`
}

// ACSAccessGroup is an access group (acs_access_group).
type ACSAccessGroup struct {
	AcsAccessGroupID   string            `json:"acs_access_group_id"`
	AcsSystemID        string            `json:"acs_system_id"`
	WorkspaceID        string            `json:"workspace_id"`
	ConnectedAccountID string            `json:"connected_account_id"`
	Name               string            `json:"name"`
	DisplayName        string            `json:"display_name"`
	AccessGroupType    string            `json:"access_group_type"`
	ExternalType       string            `json:"external_type"`
	IsManaged          bool              `json:"is_managed"`
	CreatedAt          time.Time         `json:"created_at"`
	Errors             []ResourceError   `json:"errors"`
	Warnings           []ResourceWarning `json:"warnings"`
}

// AccessMethodCard is the access method of a key card credential.
const AccessMethodCard = "card"

// ACSCredential is a credential (acs_credential). A card credential gets
// CardNumber, IsIssued and IssuedAt once an encoder has written it.
type ACSCredential struct {
	AcsCredentialID         string            `json:"acs_credential_id"`
	AcsUserID               string            `json:"acs_user_id"`
	AcsSystemID             string            `json:"acs_system_id"`
	WorkspaceID             string            `json:"workspace_id"`
	ConnectedAccountID      string            `json:"connected_account_id"`
	DisplayName             string            `json:"display_name"`
	AccessMethod            string            `json:"access_method"`
	ExternalType            string            `json:"external_type"`
	ExternalTypeDisplayName string            `json:"external_type_display_name"`
	CardNumber              *string           `json:"card_number"`
	IsIssued                bool              `json:"is_issued"`
	IssuedAt                *time.Time        `json:"issued_at"`
	StartsAt                string            `json:"starts_at"`
	EndsAt                  string            `json:"ends_at"`
	ParentAcsCredentialID   string            `json:"parent_acs_credential_id"`
	IsManaged               bool              `json:"is_managed"`
	CreatedAt               time.Time         `json:"created_at"`
	Errors                  []ResourceError   `json:"errors"`
	Warnings                []ResourceWarning `json:"warnings"`
}

// ACSEncoder is a card encoder (acs_encoder). An encoder with Errors (Seam
// names acs_encoder_removed) should not be picked for an encoding.
type ACSEncoder struct {
	AcsEncoderID       string          `json:"acs_encoder_id"`
	AcsSystemID        string          `json:"acs_system_id"`
	WorkspaceID        string          `json:"workspace_id"`
	ConnectedAccountID string          `json:"connected_account_id"`
	DisplayName        string          `json:"display_name"`
	CreatedAt          time.Time       `json:"created_at"`
	Errors             []ResourceError `json:"errors"`
}

// Action attempt statuses and the action type of an encoding.
const (
	ActionStatusPending = "pending"
	ActionStatusSuccess = "success"
	ActionStatusError   = "error"
	ActionTypeEncode    = "ENCODE_CREDENTIAL"
)

// ActionAttempt tracks an asynchronous action such as an encoding. Result is
// kept raw: its shape depends on ActionType.
type ActionAttempt struct {
	ActionAttemptID string              `json:"action_attempt_id"`
	ActionType      string              `json:"action_type"`
	Status          string              `json:"status"`
	Error           *ActionAttemptError `json:"error"`
	Result          json.RawMessage     `json:"result"`
}

// Credential decodes the result of a successful ENCODE_CREDENTIAL attempt:
// the credential as written, with its card number and issue time.
func (a *ActionAttempt) Credential() (*ACSCredential, error) {
	if a.ActionType != ActionTypeEncode {
		return nil, fmt.Errorf("action attempt %s is %s, not %s", a.ActionAttemptID, a.ActionType, ActionTypeEncode)
	}
	if a.Status != ActionStatusSuccess {
		return nil, fmt.Errorf("action attempt %s is %s, not %s", a.ActionAttemptID, a.Status, ActionStatusSuccess)
	}
	if len(a.Result) == 0 || string(a.Result) == "null" {
		return nil, errors.New("action attempt " + a.ActionAttemptID + " succeeded without a result")
	}
	var c ACSCredential
	if err := json.Unmarshal(a.Result, &c); err != nil {
		return nil, fmt.Errorf("action attempt %s result: %w", a.ActionAttemptID, err)
	}
	return &c, nil
}

// Pagination is the pagination block of list answers.
type Pagination struct {
	HasNextPage    bool    `json:"has_next_page"`
	NextPageCursor *string `json:"next_page_cursor"`
	NextPageURL    *string `json:"next_page_url"`
}

// CreateUserRequest is the body of /acs/users/create. AcsAccessGroupIDs
// puts the new user in those groups in the same call.
type CreateUserRequest struct {
	AcsSystemID       string   `json:"acs_system_id"`
	FullName          string   `json:"full_name"`
	EmailAddress      string   `json:"email_address,omitempty"`
	PhoneNumber       string   `json:"phone_number,omitempty"`
	AcsAccessGroupIDs []string `json:"acs_access_group_ids,omitempty"`
}

// ListUsersRequest filters /acs/users/list. Search matches part of the full
// name, phone number, email address or id. Limit is the page size (Seam's
// default 500); ListUsers reads every page.
type ListUsersRequest struct {
	AcsSystemID   string     `json:"acs_system_id,omitempty"`
	Search        string     `json:"search,omitempty"`
	CreatedBefore *time.Time `json:"created_before,omitempty"`
	Limit         int        `json:"limit,omitempty"`
}

// ListAccessGroupsRequest filters /acs/access_groups/list.
type ListAccessGroupsRequest struct {
	AcsSystemID string `json:"acs_system_id,omitempty"`
	AcsUserID   string `json:"acs_user_id,omitempty"`
}

// SaltoSpaceMetadata is the Salto Space part of a new credential:
// AssignNewKey true assigns a first (or replacement) card, false updates the
// card the user holds.
type SaltoSpaceMetadata struct {
	AssignNewKey *bool `json:"assign_new_key,omitempty"`
}

// CreateCredentialRequest is the body of /acs/credentials/create.
type CreateCredentialRequest struct {
	AcsUserID          string              `json:"acs_user_id"`
	AccessMethod       string              `json:"access_method"`
	StartsAt           *time.Time          `json:"starts_at,omitempty"`
	EndsAt             *time.Time          `json:"ends_at,omitempty"`
	SaltoSpaceMetadata *SaltoSpaceMetadata `json:"salto_space_metadata,omitempty"`
}

// ListCredentialsRequest filters /acs/credentials/list; ListCredentials
// reads every page.
type ListCredentialsRequest struct {
	AcsUserID     string     `json:"acs_user_id,omitempty"`
	AcsSystemID   string     `json:"acs_system_id,omitempty"`
	Search        string     `json:"search,omitempty"`
	CreatedBefore *time.Time `json:"created_before,omitempty"`
	Limit         int        `json:"limit,omitempty"`
}

// ListEncodersRequest filters /acs/encoders/list: Seam requires exactly one
// of AcsSystemID, AcsSystemIDs and AcsEncoderIDs. ListEncoders reads every
// page and keeps Seam's order.
type ListEncodersRequest struct {
	AcsSystemID   string   `json:"acs_system_id,omitempty"`
	AcsSystemIDs  []string `json:"acs_system_ids,omitempty"`
	AcsEncoderIDs []string `json:"acs_encoder_ids,omitempty"`
	Limit         int      `json:"limit,omitempty"`
}
