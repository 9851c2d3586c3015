package seamspec

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	userID = "33333333-3333-3333-3333-333333333333"
	credID = "66666666-6666-6666-6666-666666666666"
	sysID  = "11111111-1111-1111-1111-111111111111"
	wsID   = "22222222-2222-2222-2222-222222222222"
	caID   = "55555555-5555-5555-5555-555555555555"
)

func validator(t *testing.T) *Validator {
	t.Helper()
	v, err := Shared()
	require.NoError(t, err)
	return v
}

func post(path, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://seam.test"+path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer seam_test_key")
	return r
}

func TestDocumentHasWhatTheProductUses(t *testing.T) {
	v := validator(t)
	for _, p := range []string{
		"/acs/systems/get", "/acs/users/create", "/acs/users/get", "/acs/users/list",
		"/acs/users/add_to_access_group", "/acs/users/delete", "/acs/access_groups/list",
		"/acs/credentials/create", "/acs/credentials/get", "/acs/credentials/list",
		"/acs/credentials/delete", "/acs/encoders/list", "/acs/encoders/get",
		"/acs/encoders/encode_credential", "/acs/encoders/simulate/next_credential_encode_will_fail",
		"/acs/encoders/simulate/next_credential_encode_will_succeed", "/action_attempts/get",
	} {
		assert.True(t, v.HasOperation(http.MethodPost, p), p)
	}
	assert.Contains(t, v.EventTypes(), "acs_credential.issued")
}

func TestValidateRequest(t *testing.T) {
	v := validator(t)
	ctx := context.Background()
	check := func(path, body string) error {
		r := post(path, body)
		return v.ValidateRequest(ctx, r, []byte(body))
	}

	good := `{"acs_user_id":"` + userID + `","access_method":"card","salto_space_metadata":{"assign_new_key":true}}`
	require.NoError(t, check("/acs/credentials/create", good))

	// Seam's request unions overlap; a filtered list must still pass.
	require.NoError(t, check("/acs/credentials/list", `{"acs_user_id":"`+userID+`"}`))
	require.NoError(t, check("/acs/credentials/list", `{"acs_user_id":"`+userID+`","acs_system_id":"`+sysID+`","limit":10}`))
	require.NoError(t, check("/acs/users/list", `{"acs_system_id":"`+sysID+`","search":"Jane","limit":2,"created_before":"2025-01-01T00:00:00Z"}`))

	for name, tc := range map[string]struct{ path, body, want string }{
		"misspelt nested field": {"/acs/credentials/create",
			`{"acs_user_id":"` + userID + `","access_method":"card","salto_space_metadata":{"assign_new_card":true}}`,
			"salto_space_metadata.assign_new_card"},
		"unknown top-level field": {"/acs/users/create",
			`{"full_name":"Jane","acs_system_id":"` + sysID + `","acs_access_groups":[]}`, "acs_access_groups"},
		"unknown field in a union member": {"/acs/credentials/list", `{"acs_user":"` + userID + `"}`, "acs_user"},
		"wrong type":                      {"/acs/users/list", `{"limit":"ten"}`, "limit"},
		"missing required field":          {"/acs/users/create", `{"full_name":"Jane"}`, "acs_system_id"},
		"bad enum":                        {"/acs/credentials/create", `{"acs_user_id":"` + userID + `","access_method":"badge"}`, "access_method"},
		"bad uuid":                        {"/acs/users/get", `{"acs_user_id":"not-a-uuid"}`, "acs_user_id"},
		"bad date-time":                   {"/acs/users/list", `{"created_before":"yesterday"}`, "created_before"},
		"not json":                        {"/acs/users/get", `{"acs_user_id":`, ""},
		"closed union": {"/acs/encoders/simulate/next_credential_encode_will_fail",
			`{"acs_encoder_id":"` + credID + `","error_code":"no_credential_on_encoder","extra":1}`, ""},
	} {
		t.Run(name, func(t *testing.T) {
			err := check(tc.path, tc.body)
			require.Error(t, err)
			t.Log(err)
			assert.Contains(t, err.Error(), tc.want)
			assert.False(t, errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrUnknownPath))
		})
	}

	r := post("/acs/users/get", `{"acs_user_id":"`+userID+`"}`)
	r.Header.Del("Authorization")
	assert.ErrorIs(t, v.ValidateRequest(ctx, r, []byte(`{"acs_user_id":"`+userID+`"}`)), ErrUnauthenticated)
	assert.ErrorIs(t, check("/acs/users/teleport", `{}`), ErrUnknownPath)
	r = httptest.NewRequest(http.MethodPatch, "http://seam.test/acs/users/get", nil)
	assert.ErrorIs(t, v.ValidateRequest(ctx, r, nil), ErrMethodNotAllowed)

	// Query parameters of the GET twins are checked as well.
	r = httptest.NewRequest(http.MethodGet, "http://seam.test/acs/users/get?acs_user_id="+userID, nil)
	r.Header.Set("Authorization", "Bearer k")
	require.NoError(t, v.ValidateRequest(ctx, r, nil))
	r = httptest.NewRequest(http.MethodGet, "http://seam.test/acs/users/get?acs_user_idd="+userID, nil)
	r.Header.Set("Authorization", "Bearer k")
	assert.ErrorContains(t, v.ValidateRequest(ctx, r, nil), "acs_user_idd")
}

const credentialJSON = `{"acs_credential_id":"` + credID + `","acs_user_id":"` + userID + `","acs_system_id":"` + sysID + `",
 "connected_account_id":"` + caID + `","workspace_id":"` + wsID + `","display_name":"Card","access_method":"card",
 "created_at":"2025-03-01T19:46:06.113Z","errors":[],"warnings":[],"is_managed":true,"card_number":null,"is_issued":false,
 "issued_at":null,"external_type":"salto_space_key","external_type_display_name":"Salto Space Key"}`

func TestValidateResponse(t *testing.T) {
	v := validator(t)
	ctx := context.Background()
	r := post("/acs/credentials/get", `{"acs_credential_id":"`+credID+`"}`)
	h := http.Header{"Content-Type": {"application/json"}}
	check := func(status int, body string) error { return v.ValidateResponse(ctx, r, status, h, []byte(body)) }

	require.NoError(t, check(200, `{"ok":true,"acs_credential":`+credentialJSON+`}`))

	renamed := strings.Replace(credentialJSON, `"card_number"`, `"card_no"`, 1)
	assert.ErrorContains(t, check(200, `{"ok":true,"acs_credential":`+renamed+`}`), "acs_credential.card_no")
	missing := strings.Replace(credentialJSON, `"display_name":"Card",`, ``, 1)
	assert.ErrorContains(t, check(200, `{"ok":true,"acs_credential":`+missing+`}`), "display_name")
	assert.Error(t, check(200, `{"ok":true}`))
	assert.Error(t, check(201, `{"ok":true,"acs_credential":`+credentialJSON+`}`), "undocumented status")

	require.NoError(t, check(404, `{"ok":false,"error":{"type":"acs_credential_not_found","message":"not found"}}`))
	assert.Error(t, check(404, `{"error":{"type":"acs_credential_not_found","message":"not found"}}`))
	assert.Error(t, check(400, `{"ok":false,"error":{"message":"no type"}}`))
	assert.Error(t, check(503, `<html>busy</html>`))
}

func TestValidateActionAttempt(t *testing.T) {
	v := validator(t)
	r := post("/action_attempts/get", `{"action_attempt_id":"`+credID+`"}`)
	h := http.Header{"Content-Type": {"application/json"}}
	check := func(body string) error {
		return v.ValidateResponse(context.Background(), r, 200, h, []byte(`{"ok":true,"action_attempt":`+body+`}`))
	}
	aa := `"action_attempt_id":"` + credID + `","action_type":"ENCODE_CREDENTIAL"`
	require.NoError(t, check(`{`+aa+`,"status":"pending","result":null,"error":null}`))
	require.NoError(t, check(`{`+aa+`,"status":"error","result":null,"error":{"type":"no_credential_on_encoder","message":"no card"}}`))
	require.NoError(t, check(`{`+aa+`,"status":"success","error":null,"result":`+credentialJSON+`}`))
	assert.Error(t, check(`{`+aa+`,"status":"error","result":null,"error":{"type":"card_on_fire","message":"x"}}`))
	assert.Error(t, check(`{`+aa+`,"status":"done","result":null,"error":null}`))
	bad := strings.Replace(credentialJSON, `"is_issued"`, `"issued"`, 1)
	assert.ErrorContains(t, check(`{`+aa+`,"status":"success","error":null,"result":`+bad+`}`), "result.issued")
}

func TestValidateEvent(t *testing.T) {
	v := validator(t)
	ev := `{"event_id":"` + credID + `","event_type":"acs_credential.issued","workspace_id":"` + wsID + `",
	 "created_at":"2025-03-01T19:46:06.113Z","occurred_at":"2025-03-01T19:46:06.113Z","acs_system_id":"` + sysID + `",
	 "acs_credential_id":"` + credID + `","connected_account_id":"` + caID + `"`
	require.NoError(t, v.ValidateEvent([]byte(ev+`}`)))
	// A field another event type has is still unknown on this one.
	assert.ErrorContains(t, v.ValidateEvent([]byte(ev+`,"acs_encoder_id":"`+credID+`"}`)), "acs_encoder_id")
	assert.Error(t, v.ValidateEvent([]byte(strings.Replace(ev, "acs_credential.issued", "acs_credential.written", 1)+`}`)))
	assert.Error(t, v.ValidateEvent([]byte(strings.Replace(ev, `"acs_credential_id"`, `"credential_id"`, 1)+`}`)))
	assert.Error(t, v.ValidateEvent([]byte(`not json`)))
}

func TestTransportReportsBothDirections(t *testing.T) {
	v := validator(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true,"acs_credential":` + strings.Replace(credentialJSON, `"is_managed"`, `"managed"`, 1) + `}`))
	}))
	defer srv.Close()
	var reports []error
	client := &http.Client{Transport: &Transport{Validator: v, Report: func(err error) { reports = append(reports, err) }}}
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/acs/credentials/get", strings.NewReader(`{"acs_credential":"x"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer k")
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Len(t, reports, 2)
	assert.Contains(t, reports[0].Error(), "request")
	assert.Contains(t, reports[1].Error(), "managed")
}
