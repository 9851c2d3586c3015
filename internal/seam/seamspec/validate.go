package seamspec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// Errors a request can fail with before its content is looked at. Any other
// error from ValidateRequest means the content is invalid (Seam answers those
// with 400 invalid_input).
var (
	ErrUnknownPath      = errors.New("no such endpoint in the Seam API document")
	ErrMethodNotAllowed = errors.New("method not allowed for this endpoint")
	ErrUnauthenticated  = errors.New("no Authorization: Bearer credentials")
)

// Validator checks requests, responses and events against the document. It
// is safe for concurrent use.
type Validator struct {
	doc  *openapi3.T
	opts []openapi3.SchemaValidationOption
}

// uuidPattern is deliberately loose (no version or variant nibble): Seam's
// own examples use ids such as 11111111-1111-1111-1111-111111111111.
const uuidPattern = `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`

// NewValidator loads the document and prepares it for validation.
func NewValidator() (*Validator, error) {
	doc, err := Load()
	if err != nil {
		return nil, err
	}
	// Seam parses request unions first-match, and some of its request unions
	// overlap, so a strict oneOf would reject requests Seam accepts.
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				for _, mt := range op.RequestBody.Value.Content {
					oneOfAsAnyOf(mt.Schema, map[*openapi3.Schema]bool{})
				}
			}
		}
	}
	formats := map[string]openapi3.StringFormatValidator{
		"uuid":  openapi3.NewRegexpFormatValidator(uuidPattern),
		"email": openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForEmail),
		"uri": openapi3.NewCallbackValidator(func(s string) error {
			u, err := url.Parse(s)
			if err != nil || u.Scheme == "" || u.Host == "" {
				return errors.New("not an absolute URI")
			}
			return nil
		}),
	}
	return &Validator{
		doc: doc,
		opts: []openapi3.SchemaValidationOption{
			openapi3.WithStringFormatValidators(formats),
			openapi3.DisableSchemaErrorDetails(),
		},
	}, nil
}

// oneOfAsAnyOf rewrites, in place, every oneOf without a discriminator under
// an inline request schema as anyOf. Shared component schemas (references)
// are left alone: responses use them and stay strict.
func oneOfAsAnyOf(ref *openapi3.SchemaRef, seen map[*openapi3.Schema]bool) {
	if ref == nil || ref.Ref != "" || ref.Value == nil || seen[ref.Value] {
		return
	}
	s := ref.Value
	seen[s] = true
	if len(s.OneOf) > 0 && s.Discriminator == nil {
		s.AnyOf = append(s.AnyOf, s.OneOf...)
		s.OneOf = nil
	}
	for _, list := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
		for _, r := range list {
			oneOfAsAnyOf(r, seen)
		}
	}
	for _, p := range s.Properties {
		oneOfAsAnyOf(p, seen)
	}
	oneOfAsAnyOf(s.Items, seen)
}

// Route finds the document's operation for a method and path.
func (v *Validator) route(method, path string) (*routers.Route, error) {
	item := v.doc.Paths.Value(path)
	if item == nil {
		return nil, fmt.Errorf("%s: %w", path, ErrUnknownPath)
	}
	op := item.GetOperation(method)
	if op == nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, ErrMethodNotAllowed)
	}
	return &routers.Route{Spec: v.doc, Path: path, PathItem: item, Method: method, Operation: op}, nil
}

// HasOperation reports whether the document describes method on path.
func (v *Validator) HasOperation(method, path string) bool {
	_, err := v.route(method, path)
	return err == nil
}

// Operation returns the document's operation for method and path, or nil.
func (v *Validator) Operation(method, path string) *openapi3.Operation {
	rt, err := v.route(method, path)
	if err != nil {
		return nil
	}
	return rt.Operation
}

func bearerAuth(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s := in.SecurityScheme
	if s.Type != "http" || !strings.EqualFold(s.Scheme, "bearer") {
		return fmt.Errorf("scheme %s is not HTTP bearer", in.SecuritySchemeName)
	}
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); !ok || strings.TrimSpace(tok) == "" {
		return ErrUnauthenticated
	}
	return nil
}

func (v *Validator) filterOptions() *openapi3filter.Options {
	return &openapi3filter.Options{
		AuthenticationFunc:      bearerAuth,
		SkipSettingDefaults:     true,
		IncludeResponseStatus:   true,
		SchemaValidationOptions: v.opts,
	}
}

// ValidateRequest checks a request whose body has already been read into
// body: the path and method exist, the Authorization header is a Bearer
// token, the query parameters and the JSON body match the document, and no
// field is unknown. r.Body is not read.
func (v *Validator) ValidateRequest(ctx context.Context, r *http.Request, body []byte) error {
	rt, err := v.route(r.Method, r.URL.Path)
	if err != nil {
		return err
	}
	in := &openapi3filter.RequestValidationInput{Request: withBody(r, body), Route: rt, Options: v.filterOptions()}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
		var sec *openapi3filter.SecurityRequirementsError
		if errors.As(err, &sec) {
			return fmt.Errorf("%s: %w", r.URL.Path, ErrUnauthenticated)
		}
		return fmt.Errorf("%s: %s", r.URL.Path, describe(err))
	}
	for name := range r.URL.Query() {
		if rt.Operation.Parameters.GetByInAndName(openapi3.ParameterInQuery, name) == nil {
			return fmt.Errorf("%s: unknown query parameter %q", r.URL.Path, name)
		}
	}
	if len(bytes.TrimSpace(body)) == 0 || rt.Operation.RequestBody == nil {
		return nil
	}
	mt := rt.Operation.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return nil
	}
	var value any
	if err := json.Unmarshal(body, &value); err != nil {
		return fmt.Errorf("%s: body is not JSON: %w", r.URL.Path, err)
	}
	w := walker{opts: append([]openapi3.SchemaValidationOption{openapi3.VisitAsRequest()}, v.opts...)}
	if unknown := w.unknown([]*openapi3.SchemaRef{mt.Schema}, value, ""); len(unknown) > 0 {
		return fmt.Errorf("%s: unknown field %s", r.URL.Path, strings.Join(unknown, ", "))
	}
	return nil
}

// ValidateResponse checks the answer to a request: a documented status, and a
// body that matches the document with no unknown field; error answers (4xx,
// 5xx) must carry Seam's error envelope.
func (v *Validator) ValidateResponse(ctx context.Context, r *http.Request, status int, header http.Header, body []byte) error {
	rt, err := v.route(r.Method, r.URL.Path)
	if err != nil {
		return err
	}
	if status >= 400 {
		if err := checkErrorEnvelope(body); err != nil {
			return fmt.Errorf("%s: %d answer: %w", r.URL.Path, status, err)
		}
		return nil
	}
	reqIn := &openapi3filter.RequestValidationInput{Request: r, Route: rt, Options: v.filterOptions()}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: reqIn,
		Status:                 status,
		Header:                 header,
		Options:                v.filterOptions(),
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, in); err != nil {
		return fmt.Errorf("%s: %d answer: %s", r.URL.Path, status, describe(err))
	}
	resp := rt.Operation.Responses.Status(status)
	if resp == nil || resp.Value == nil {
		return nil
	}
	mt := resp.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return nil
	}
	var value any
	if err := json.Unmarshal(body, &value); err != nil {
		return fmt.Errorf("%s: %d answer is not JSON: %w", r.URL.Path, status, err)
	}
	w := walker{opts: append([]openapi3.SchemaValidationOption{openapi3.VisitAsResponse()}, v.opts...)}
	if unknown := w.unknown([]*openapi3.SchemaRef{mt.Schema}, value, ""); len(unknown) > 0 {
		return fmt.Errorf("%s: %d answer has unknown field %s", r.URL.Path, status, strings.Join(unknown, ", "))
	}
	return nil
}

// ValidateEvent checks a webhook body against the document's event schema.
func (v *Validator) ValidateEvent(body []byte) error {
	ref := v.doc.Components.Schemas["event"]
	if ref == nil {
		return errors.New("seamspec: document has no event schema")
	}
	var value any
	if err := json.Unmarshal(body, &value); err != nil {
		return fmt.Errorf("event is not JSON: %w", err)
	}
	opts := append([]openapi3.SchemaValidationOption{openapi3.VisitAsResponse()}, v.opts...)
	if err := ref.Value.VisitJSON(value, opts...); err != nil {
		return fmt.Errorf("event: %s", describe(err))
	}
	w := walker{opts: opts}
	if unknown := w.unknown([]*openapi3.SchemaRef{ref}, value, ""); len(unknown) > 0 {
		return fmt.Errorf("event has unknown field %s", strings.Join(unknown, ", "))
	}
	return nil
}

// EventTypes lists the event types the document's event schema knows.
func (v *Validator) EventTypes() []string {
	var out []string
	for _, variant := range v.doc.Components.Schemas["event"].Value.OneOf {
		if p := variant.Value.Properties["event_type"]; p != nil {
			for _, e := range p.Value.Enum {
				if s, ok := e.(string); ok {
					out = append(out, s)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func checkErrorEnvelope(body []byte) error {
	var env struct {
		OK    *bool `json:"ok"`
		Error *struct {
			Type    *string `json:"type"`
			Message *string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("error body is not JSON: %w", err)
	}
	switch {
	case env.OK == nil || *env.OK:
		return errors.New(`error body lacks "ok": false`)
	case env.Error == nil:
		return errors.New(`error body lacks "error"`)
	case env.Error.Type == nil || *env.Error.Type == "":
		return errors.New(`error body lacks "error.type"`)
	case env.Error.Message == nil:
		return errors.New(`error body lacks "error.message"`)
	}
	return nil
}

func withBody(r *http.Request, body []byte) *http.Request {
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return r2
}

var spaces = regexp.MustCompile(`\s+`)

// describe turns kin-openapi's error into one line naming the field.
func describe(err error) string {
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		ptr := strings.Join(se.JSONPointer(), ".")
		if ptr == "" {
			return se.Reason
		}
		return ptr + ": " + se.Reason
	}
	var re *openapi3filter.RequestError
	if errors.As(err, &re) {
		if re.Parameter != nil {
			return "parameter " + re.Parameter.Name + ": " + spaces.ReplaceAllString(re.Error(), " ")
		}
	}
	return spaces.ReplaceAllString(err.Error(), " ")
}

// walker finds object members that no schema declares.
type walker struct {
	opts []openapi3.SchemaValidationOption
}

// flatten returns the schemas that describe v: each schema, its allOf
// members, and those of its oneOf/anyOf members that v matches (all of them
// when it matches none, so that the names they declare are still allowed;
// the schema validation reports the mismatch).
func (w walker) flatten(refs []*openapi3.SchemaRef, v any) []*openapi3.Schema {
	var out []*openapi3.Schema
	var add func(r *openapi3.SchemaRef)
	add = func(r *openapi3.SchemaRef) {
		if r == nil || r.Value == nil {
			return
		}
		s := r.Value
		out = append(out, s)
		for _, m := range s.AllOf {
			add(m)
		}
		for _, alts := range []openapi3.SchemaRefs{s.OneOf, s.AnyOf} {
			var matched openapi3.SchemaRefs
			for _, m := range alts {
				if m.Value != nil && m.Value.VisitJSON(v, w.opts...) == nil {
					matched = append(matched, m)
				}
			}
			if len(matched) == 0 {
				matched = alts
			}
			for _, m := range matched {
				add(m)
			}
		}
	}
	for _, r := range refs {
		add(r)
	}
	return out
}

func (w walker) unknown(refs []*openapi3.SchemaRef, v any, path string) []string {
	schemas := w.flatten(refs, v)
	var found []string
	switch val := v.(type) {
	case map[string]any:
		open := false
		props := map[string][]*openapi3.SchemaRef{}
		for _, s := range schemas {
			composite := len(s.AllOf)+len(s.OneOf)+len(s.AnyOf) > 0
			ap := s.AdditionalProperties
			// An untyped schema without properties (an action attempt's
			// "result" while pending) says nothing about the members; one
			// typed object without properties declares that there are none.
			untyped := len(s.Properties) == 0 && !composite && (s.Type == nil || !s.Type.Is("object"))
			if untyped || (ap.Has != nil && *ap.Has) || ap.Schema != nil {
				open = true
			}
			for name, p := range s.Properties {
				props[name] = append(props[name], p)
			}
		}
		for _, name := range sortedKeys(val) {
			field := strings.TrimPrefix(path+"."+name, ".")
			if cands := props[name]; len(cands) > 0 {
				found = append(found, w.unknown(cands, val[name], field)...)
			} else if !open {
				found = append(found, fmt.Sprintf("%q", field))
			}
		}
	case []any:
		var items []*openapi3.SchemaRef
		for _, s := range schemas {
			if s.Items != nil {
				items = append(items, s.Items)
			}
		}
		if len(items) == 0 {
			return nil
		}
		for i, e := range val {
			found = append(found, w.unknown(items, e, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return found
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
