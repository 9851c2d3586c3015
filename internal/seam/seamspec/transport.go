package seamspec

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// Transport is an http.RoundTripper for tests: it validates every request it
// carries and the answer that comes back, and hands each violation to Report
// (for example a testing.T's Errorf through a closure). The exchange itself
// goes ahead unchanged, so the code under test sees what it would have seen.
type Transport struct {
	Base      http.RoundTripper // nil: http.DefaultTransport
	Validator *Validator
	Report    func(error)
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("seamspec transport: read request body: %w", err)
		}
		body = b
		r = withBody(r, body)
	}
	if err := t.Validator.ValidateRequest(r.Context(), r, body); err != nil {
		t.Report(fmt.Errorf("request %s %s: %w", r.Method, r.URL.Path, err))
	}
	resp, err := base.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		// The code under test meets the same error when it reads.
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(respBody), failingReader{err}))
		return resp, nil
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if !t.Validator.HasOperation(r.Method, r.URL.Path) {
		return resp, nil
	}
	if err := t.Validator.ValidateResponse(r.Context(), r, resp.StatusCode, resp.Header, respBody); err != nil {
		t.Report(fmt.Errorf("response to %s %s: %w", r.Method, r.URL.Path, err))
	}
	return resp, nil
}

type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }
