// Package seamsim simulates the parts of the Seam API this product uses, in
// memory: CONTRACT.md's endpoints with Seam's envelopes and error bodies,
// requests validated against Seam's OpenAPI document, Salto Space's card
// rules, encodings that finish after a delay, and Svix-signed webhooks
// delivered concurrently with Svix's retries. Knobs under /_sim/ (and the
// same Go methods) inject the faults tests need.
//
// Use it in-process (New, Handler, Close) or as cmd/seamsim.
package seamsim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"
	svix "github.com/svix/svix-webhooks/go"
	"go.uber.org/zap"

	"github.com/cardissuer/seamcards/internal/seam/seamspec"
)

// maxBodyBytes bounds a request body.
const maxBodyBytes = 1 << 20

// Sim is one simulated Seam workspace. Its methods are safe for concurrent
// use.
type Sim struct {
	cfg       Config
	spec      *seamspec.Validator
	signer    *svix.Webhook
	log       *zap.Logger
	handlers  map[string]handler
	deliverer *deliverer

	mu       sync.Mutex // guards w and faults; never held across a sleep or I/O
	w        world
	faults   map[string]*callFault
	holds    map[string]*AnswerHold
	closed   bool
	delayMin time.Duration
	delayMax time.Duration

	calls callLog
}

// callFault answers the next n calls of a path with status.
type callFault struct {
	n          int
	status     int
	retryAfter time.Duration
}

// New builds a seeded Sim. Close it to stop its timers and deliveries.
func New(cfg Config) (*Sim, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	spec, err := seamspec.Shared()
	if err != nil {
		return nil, err
	}
	signer, err := svix.NewWebhook(cfg.WebhookSecrets[0])
	if err != nil {
		return nil, fmt.Errorf("seamsim: webhook secret: %w", err)
	}
	s := &Sim{
		cfg:      cfg,
		spec:     spec,
		signer:   signer,
		log:      cfg.Logger,
		faults:   map[string]*callFault{},
		holds:    map[string]*AnswerHold{},
		delayMin: cfg.EncodeDelay,
		delayMax: cfg.EncodeDelayMax,
		calls:    callLog{limit: cfg.CallLogLimit},
	}
	s.handlers = s.routes()
	s.deliverer = newDeliverer(s)
	s.seed()
	return s, nil
}

func (s *Sim) seed() {
	now := time.Now()
	w := &s.w
	w.groups, w.users, w.creds = map[string]*group{}, map[string]*user{}, map[string]*credential{}
	w.encoders, w.attempts = map[string]*encoder{}, map[string]*attempt{}
	w.system = &system{id: SystemID, name: "Building A", createdAt: now}
	for _, g := range []struct{ id, name string }{{AccessGroupStaff, "Staff"}, {AccessGroupGuests, "Guests"}} {
		w.groups[g.id] = &group{id: g.id, systemID: SystemID, name: g.name, seq: w.next(), createdAt: now}
	}
	w.encoders[EncoderID] = &encoder{id: EncoderID, systemID: SystemID, name: "Front desk encoder", seq: w.next(), createdAt: now}
}

// WebhookSecret returns the secret that signs deliveries.
func (s *Sim) WebhookSecret() string { return s.cfg.WebhookSecrets[0] }

// APIKey returns the accepted API key.
func (s *Sim) APIKey() string { return s.cfg.APIKey }

// Close stops encodings and webhook deliveries (a delivery under way is
// cancelled) and waits for them. Requests served afterwards still answer.
func (s *Sim) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, a := range s.w.attempts {
		if a.timer != nil {
			a.timer.Stop()
		}
	}
	s.mu.Unlock()
	s.deliverer.close()
	return nil
}

// Handler serves the Seam API and the /_sim/ knobs.
func (s *Sim) Handler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		status := http.StatusInternalServerError
		var he *echo.HTTPError
		if errors.As(err, &he) {
			status = he.Code
		}
		_ = writeError(c.Response(), "", &apiError{status: status, typ: errorTypeFor(status), msg: http.StatusText(status)})
	}
	s.knobRoutes(e.Group(knobPrefix))
	e.Any("/*", func(c echo.Context) error {
		s.serveAPI(c.Response(), c.Request())
		return nil
	})
	return e
}

// handler answers one endpoint: the resource(s) to send, or an error.
type handler func(ctx context.Context, p params) (map[string]any, error)

// params is a validated request: its JSON body (or query, for GET and
// DELETE), the decoded fields, and where it came from.
type params struct {
	raw    []byte
	fields map[string]any
	req    *http.Request
}

func (p params) decode(v any) error {
	if err := json.Unmarshal(p.raw, v); err != nil {
		return invalidInput("cannot decode request: %v", err)
	}
	return nil
}

type apiError struct {
	status     int
	typ, msg   string
	retryAfter time.Duration
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.typ, e.msg) }

func invalidInput(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_input", msg: fmt.Sprintf(format, args...)}
}

func notFound(resource, id string) *apiError {
	return &apiError{status: http.StatusNotFound, typ: resource + "_not_found", msg: fmt.Sprintf("Could not find an %s with %s_id %s", resource, resource, id)}
}

// errorTypeFor names the error type of an answer seamsim gives without a
// more specific one (Seam's document does not list these).
func errorTypeFor(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_exceeded"
	case http.StatusBadGateway:
		return "bad_gateway"
	case http.StatusServiceUnavailable:
		return "service_unavailable"
	case http.StatusGatewayTimeout:
		return "gateway_timeout"
	}
	if status >= 500 {
		return "internal_server_error"
	}
	return "invalid_input"
}

func (s *Sim) serveAPI(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	requestID := newUUID()
	status := s.answer(w, r, requestID)
	s.calls.add(Call{Time: start, Kind: KindAPI, Method: r.Method, Path: r.URL.Path, Status: status, RequestID: requestID, Duration: time.Since(start)})
}

// answer runs the pipeline of one API call and returns the status sent.
func (s *Sim) answer(w http.ResponseWriter, r *http.Request, requestID string) int {
	w.Header().Set("seam-request-id", requestID)
	fail := func(e *apiError) int {
		if e.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((e.retryAfter+time.Second-1)/time.Second)))
		}
		_ = writeError(w, requestID, e)
		return e.status
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return fail(invalidInput("cannot read request body: %v", err))
	}
	if len(body) > maxBodyBytes {
		return fail(&apiError{status: http.StatusRequestEntityTooLarge, typ: "request_too_large", msg: "request body larger than 1 MiB"})
	}
	if s.cfg.APILatency > 0 {
		t := time.NewTimer(s.cfg.APILatency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return 499 // the client went away; nobody reads the answer
		}
	}
	if r.Header.Get("Authorization") != "Bearer "+s.cfg.APIKey {
		return fail(&apiError{status: http.StatusUnauthorized, typ: "unauthorized", msg: "Unauthorized"})
	}
	if f := s.takeFault(r.URL.Path); f != nil {
		return fail(f)
	}
	if err := s.spec.ValidateRequest(r.Context(), r, body); err != nil {
		switch {
		case errors.Is(err, seamspec.ErrUnknownPath):
			return fail(&apiError{status: http.StatusNotFound, typ: "not_found", msg: "No such endpoint: " + r.URL.Path})
		case errors.Is(err, seamspec.ErrMethodNotAllowed):
			return fail(&apiError{status: http.StatusMethodNotAllowed, typ: "method_not_allowed", msg: r.Method + " is not allowed on " + r.URL.Path})
		case errors.Is(err, seamspec.ErrUnauthenticated):
			return fail(&apiError{status: http.StatusUnauthorized, typ: "unauthorized", msg: "Unauthorized"})
		}
		return fail(invalidInput("%v", err))
	}
	h := s.handlers[r.URL.Path]
	if h == nil {
		return fail(&apiError{status: http.StatusNotFound, typ: "not_found", msg: "seamsim does not serve " + r.URL.Path})
	}
	p, err := s.params(r, body)
	if err != nil {
		return fail(invalidInput("%v", err))
	}
	out, err := h(r.Context(), p)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{status: http.StatusInternalServerError, typ: "internal_server_error", msg: err.Error()}
		}
		return fail(ae)
	}
	if out == nil {
		out = map[string]any{}
	}
	if h := s.takeHold(r.URL.Path); h != nil {
		close(h.reached)
		select {
		case <-h.release:
		case <-r.Context().Done():
			return 499
		}
	}
	out["ok"] = true
	writeJSON(w, http.StatusOK, out)
	return http.StatusOK
}

// params decodes a validated request: the JSON body, or for operations that
// take query parameters (GET, DELETE twins) the query, typed as the document
// declares, so that handlers see the same fields either way.
func (s *Sim) params(r *http.Request, body []byte) (params, error) {
	op := s.spec.Operation(r.Method, r.URL.Path)
	fields := map[string]any{}
	if op != nil && op.RequestBody == nil {
		for name, vals := range r.URL.Query() {
			prm := op.Parameters.GetByInAndName(openapi3.ParameterInQuery, name)
			v, err := queryValue(prm, vals)
			if err != nil {
				return params{}, fmt.Errorf("parameter %s: %w", name, err)
			}
			fields[name] = v
		}
		raw, _ := json.Marshal(fields)
		return params{raw: raw, fields: fields, req: r}, nil
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, &fields); err != nil {
		return params{}, fmt.Errorf("body is not a JSON object: %w", err)
	}
	return params{raw: body, fields: fields, req: r}, nil
}

func queryValue(p *openapi3.Parameter, vals []string) (any, error) {
	if p == nil || p.Schema == nil || p.Schema.Value == nil || len(vals) == 0 {
		return vals, nil
	}
	sch := p.Schema.Value
	switch {
	case sch.Type.Is("array"):
		return vals, nil
	case sch.Type.Is("boolean"):
		return strconv.ParseBool(vals[0])
	case sch.Type.Is("integer"), sch.Type.Is("number"):
		return strconv.ParseFloat(vals[0], 64)
	}
	return vals[0], nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]any{"ok": false, "error": map[string]string{"type": "internal_server_error", "message": err.Error()}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, requestID string, e *apiError) error {
	body := map[string]any{"type": e.typ, "message": e.msg}
	if requestID != "" {
		body["request_id"] = requestID
	}
	writeJSON(w, e.status, map[string]any{"ok": false, "error": body})
	return nil
}

// takeFault consumes one injected failure for path, if any.
func (s *Sim) takeFault(path string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults[path]
	if f == nil {
		return nil
	}
	f.n--
	if f.n <= 0 {
		delete(s.faults, path)
	}
	return &apiError{status: f.status, typ: errorTypeFor(f.status), msg: "seamsim: injected failure", retryAfter: f.retryAfter}
}

// page cuts one page out of items, ordered by seq, after the page cursor.
// The cursor names the last item sent and a hash of the filters, so that a
// cursor cannot be replayed against another query.
func page[T any](p params, items []T, seqOf func(T) int64) ([]T, wirePagination, error) {
	sort.Slice(items, func(i, j int) bool { return seqOf(items[i]) < seqOf(items[j]) })
	limit := 500
	if v, ok := p.fields["limit"].(float64); ok {
		if v < 1 {
			return nil, wirePagination{}, invalidInput("limit must be at least 1")
		}
		limit = int(v)
	}
	query := queryHash(p.fields)
	if cur, _ := p.fields["page_cursor"].(string); cur != "" {
		after, q, err := parseCursor(cur)
		if err != nil || q != query {
			return nil, wirePagination{}, invalidInput("page_cursor is not a cursor of this query")
		}
		i := sort.Search(len(items), func(i int) bool { return seqOf(items[i]) > after })
		items = items[i:]
	}
	if len(items) <= limit {
		return items, wirePagination{}, nil
	}
	items = items[:limit]
	cur := makeCursor(seqOf(items[len(items)-1]), query)
	next := nextPageURL(p, cur)
	return items, wirePagination{HasNextPage: true, NextPageCursor: &cur, NextPageURL: &next}, nil
}

func queryHash(fields map[string]any) string {
	f := map[string]any{}
	for k, v := range fields {
		if k != "page_cursor" && k != "limit" {
			f[k] = v
		}
	}
	b, _ := json.Marshal(f) // map keys marshal sorted
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func makeCursor(after int64, query string) string {
	b, _ := json.Marshal(map[string]any{"after": after, "query": query})
	return encodeCursor(b)
}

func parseCursor(c string) (int64, string, error) {
	b, err := decodeCursor(c)
	if err != nil {
		return 0, "", err
	}
	var v struct {
		After int64  `json:"after"`
		Query string `json:"query"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return 0, "", err
	}
	return v.After, v.Query, nil
}

func nextPageURL(p params, cursor string) string {
	q := url.Values{}
	for k, v := range p.fields {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				q.Add(k, fmt.Sprint(e))
			}
		case []string:
			q[k] = v
		default:
			q.Set(k, fmt.Sprint(v))
		}
	}
	q.Set("page_cursor", cursor)
	scheme := "http"
	if p.req.TLS != nil {
		scheme = "https"
	}
	return (&url.URL{Scheme: scheme, Host: p.req.Host, Path: p.req.URL.Path, RawQuery: q.Encode()}).String()
}
