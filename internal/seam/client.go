// Package seam is a typed client for the parts of the Seam API this product
// uses: access system users, access groups, credentials, encoders and action
// attempts. Field names follow Seam's OpenAPI document (package seamspec).
//
// Every call retries with exponential backoff and jitter on 429, 5xx and
// network errors, honouring Retry-After, until it succeeds, the context ends
// or the retry budget (WithRetryMaxElapsed) is spent; other 4xx answers come
// back at once as *Error. Calls that create something are not repeated once
// Seam may have applied them (see ErrOutcomeUnknown).
package seam

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// DefaultBaseURL is Seam's production API.
const DefaultBaseURL = "https://connect.getseam.com"

// maxResponseBytes bounds what the client reads of one answer.
const maxResponseBytes = 16 << 20

// Client calls the Seam API. It is safe for concurrent use.
type Client struct {
	base       *url.URL
	apiKey     string
	http       *http.Client
	userAgent  string
	maxElapsed time.Duration
	initial    time.Duration
	maxBackoff time.Duration
	observe    func(endpoint string, status int, err error, d time.Duration)
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (its Transport, its per-attempt Timeout).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithUserAgent replaces the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithRetryMaxElapsed bounds how long one call keeps retrying (default one
// minute); 0 retries until the context ends.
func WithRetryMaxElapsed(d time.Duration) Option { return func(c *Client) { c.maxElapsed = d } }

// WithRetryBackoff sets the first wait between attempts and the largest one
// (defaults 250ms and 30s); each wait is randomised by ±50%.
func WithRetryBackoff(initial, max time.Duration) Option {
	return func(c *Client) { c.initial, c.maxBackoff = initial, max }
}

// WithObserver is called after every HTTP attempt with the endpoint path, the
// status (0 when there was no answer), the attempt's error and its duration;
// for metrics and logs.
func WithObserver(f func(endpoint string, status int, err error, d time.Duration)) Option {
	return func(c *Client) { c.observe = f }
}

// New returns a client for the API at baseURL (for example DefaultBaseURL or
// a seamsim address) that authenticates with apiKey.
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("seam: base URL %q: want http(s)://host[:port][/path]", baseURL)
	}
	if strings.TrimSpace(apiKey) == "" {
		return nil, errors.New("seam: API key is empty")
	}
	c := &Client{
		base:       u,
		apiKey:     apiKey,
		http:       &http.Client{Timeout: 30 * time.Second},
		userAgent:  "seamcards/" + version(),
		maxElapsed: time.Minute,
		initial:    250 * time.Millisecond,
		maxBackoff: 30 * time.Second,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// creates lists the endpoints that create something: repeating them after
// Seam may have applied them would create a second one.
var creates = map[string]bool{
	"/acs/users/create":               true,
	"/acs/credentials/create":         true,
	"/acs/encoders/encode_credential": true,
}

// call POSTs in as JSON to path and decodes the answer into out, retrying as
// the package comment says.
func (c *Client) call(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("seam %s: encode request: %w", path, err)
	}
	eb := backoff.NewExponentialBackOff()
	eb.InitialInterval, eb.MaxInterval = c.initial, c.maxBackoff
	var lastFailure error // of the last attempt that did not end with the context
	_, err = backoff.Retry(ctx, func() (struct{}, error) {
		err := c.attempt(ctx, path, body, out)
		if err != nil && ctx.Err() == nil {
			lastFailure = err
		}
		return struct{}{}, err
	}, backoff.WithBackOff(eb), backoff.WithMaxElapsedTime(c.maxElapsed))
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil && errors.Is(err, ctx.Err()) && lastFailure != nil:
		// Keep what Seam said before the context ended.
		return fmt.Errorf("seam %s: gave up: %w; last attempt: %w", path, err, unwrapRetry(lastFailure))
	}
	return unwrapRetry(err)
}

// retryAfter carries a Retry-After wait to backoff.Retry alongside the error.
type retryAfter struct {
	err  error
	wait *backoff.RetryAfterError
}

func (r *retryAfter) Error() string   { return r.err.Error() }
func (r *retryAfter) Unwrap() []error { return []error{r.err, r.wait} }

func unwrapRetry(err error) error {
	var ra *retryAfter
	if errors.As(err, &ra) {
		return ra.err
	}
	return err
}

// attempt makes one HTTP exchange. A nil error means out is filled; an error
// wrapped in backoff.Permanent stops the retries.
func (c *Client) attempt(ctx context.Context, path string, body []byte, out any) error {
	start := time.Now()
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) { wrote.Store(i.Err == nil) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, c.base.String()+path, bytes.NewReader(body))
	if err != nil {
		return backoff.Permanent(fmt.Errorf("seam %s: %w", path, err))
	}
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)

	resp, err := c.http.Do(req)
	var respBody []byte
	if err == nil {
		respBody, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
		resp.Body.Close()
	}
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	if err != nil {
		status = 0
		err = c.networkError(ctx, path, err, wrote.Load())
	} else {
		err = c.answer(path, resp, respBody, out)
	}
	if c.observe != nil {
		c.observe(path, status, unwrapRetry(err), time.Since(start))
	}
	return err
}

func (c *Client) networkError(ctx context.Context, path string, err error, sent bool) error {
	if ctx.Err() != nil {
		return backoff.Permanent(fmt.Errorf("seam %s: %w", path, context.Cause(ctx)))
	}
	err = fmt.Errorf("seam %s: %w: %w", path, ErrNetwork, err)
	if sent && creates[path] {
		return backoff.Permanent(fmt.Errorf("%w: %w", ErrOutcomeUnknown, err))
	}
	return err
}

// answer turns an HTTP answer into nil (out filled) or an error.
func (c *Client) answer(path string, resp *http.Response, body []byte, out any) error {
	if len(body) > maxResponseBytes {
		return backoff.Permanent(fmt.Errorf("seam %s: answer larger than %d bytes", path, maxResponseBytes))
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		var env struct {
			OK *bool `json:"ok"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			return backoff.Permanent(fmt.Errorf("seam %s: answer %d is not JSON: %w", path, resp.StatusCode, err))
		}
		if env.OK == nil || !*env.OK {
			return backoff.Permanent(fmt.Errorf(`seam %s: answer %d lacks "ok": true`, path, resp.StatusCode))
		}
		if out != nil {
			if err := json.Unmarshal(body, out); err != nil {
				return backoff.Permanent(fmt.Errorf("seam %s: decode answer: %w", path, err))
			}
		}
		return nil
	}
	se := parseError(path, resp, body)
	switch {
	case !se.Retryable():
		return backoff.Permanent(se)
	case creates[path] && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable:
		// A 500 or 504 may come after Seam created the thing.
		return backoff.Permanent(fmt.Errorf("%w: %w", ErrOutcomeUnknown, se))
	case se.RetryAfter > 0:
		return &retryAfter{err: se, wait: &backoff.RetryAfterError{Duration: se.RetryAfter}}
	}
	return se
}

func parseError(path string, resp *http.Response, body []byte) *Error {
	se := &Error{
		Endpoint:   path,
		Status:     resp.StatusCode,
		RequestID:  resp.Header.Get("seam-request-id"),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	var env struct {
		Error struct {
			Type      string `json:"type"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && env.Error.Type != "" {
		se.Type, se.Message = env.Error.Type, env.Error.Message
		if se.RequestID == "" {
			se.RequestID = env.Error.RequestID
		}
		return se
	}
	// Not Seam's envelope (a proxy's page, an empty 401): keep a short excerpt.
	msg := strings.Join(strings.Fields(string(body)), " ")
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	se.Message = msg
	if resp.StatusCode == http.StatusUnauthorized {
		se.Type = ErrorTypeUnauthorized
	}
	return se
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or
// unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
