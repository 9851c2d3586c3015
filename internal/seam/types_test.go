package seam_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardissuer/seamcards/internal/seam"
	"github.com/cardissuer/seamcards/internal/seam/seamspec"
)

// TestFieldNamesAreSeams checks every json name of the client's types
// against the schema it decodes from or encodes to, at every depth: a
// misspelt field would otherwise read as always empty.
func TestFieldNamesAreSeams(t *testing.T) {
	doc, err := seamspec.Load()
	require.NoError(t, err)
	schema := func(name string) *openapi3.SchemaRef { return doc.Components.Schemas[name] }
	request := func(path string) *openapi3.SchemaRef {
		return doc.Paths.Value(path).Post.RequestBody.Value.Content.Get("application/json").Schema
	}
	for _, tc := range []struct {
		typ    any
		schema *openapi3.SchemaRef
	}{
		{seam.ACSSystem{}, schema("acs_system")},
		{seam.ACSUser{}, schema("acs_user")},
		{seam.ACSAccessGroup{}, schema("acs_access_group")},
		{seam.ACSCredential{}, schema("acs_credential")},
		{seam.ACSEncoder{}, schema("acs_encoder")},
		{seam.ActionAttempt{}, schema("action_attempt")},
		{seam.Pagination{}, schema("pagination")},
		{seam.Event{}, schema("event")},
		{seam.CreateUserRequest{}, request("/acs/users/create")},
		{seam.ListUsersRequest{}, request("/acs/users/list")},
		{seam.ListAccessGroupsRequest{}, request("/acs/access_groups/list")},
		{seam.CreateCredentialRequest{}, request("/acs/credentials/create")},
		{seam.ListCredentialsRequest{}, request("/acs/credentials/list")},
		{seam.ListEncodersRequest{}, request("/acs/encoders/list")},
	} {
		typ := reflect.TypeOf(tc.typ)
		t.Run(typ.Name(), func(t *testing.T) {
			require.NotNil(t, tc.schema)
			checkFields(t, typ.Name(), typ, []*openapi3.Schema{tc.schema.Value})
		})
	}
}

// checkFields reports json names of typ that none of the schemas (or their
// allOf/oneOf/anyOf members) declares.
func checkFields(t *testing.T, where string, typ reflect.Type, schemas []*openapi3.Schema) {
	for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
		typ = typ.Elem()
		var items []*openapi3.Schema
		for _, s := range flat(schemas) {
			if s.Items != nil {
				items = append(items, s.Items.Value)
			}
		}
		if typ.Kind() != reflect.Uint8 && len(items) > 0 {
			schemas = items
		}
	}
	if typ.Kind() != reflect.Struct || typ == reflect.TypeOf(time.Time{}) || typ == reflect.TypeOf(json.RawMessage{}) {
		return
	}
	props := map[string][]*openapi3.Schema{}
	for _, s := range flat(schemas) {
		for name, p := range s.Properties {
			props[name] = append(props[name], p.Value)
		}
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		cands, ok := props[name]
		if !assert.True(t, ok, "%s.%s: Seam's document has no field %q here", where, f.Name, name) {
			continue
		}
		checkFields(t, where+"."+name, f.Type, cands)
	}
}

func flat(schemas []*openapi3.Schema) []*openapi3.Schema {
	var out []*openapi3.Schema
	for _, s := range schemas {
		out = append(out, s)
		for _, list := range []openapi3.SchemaRefs{s.AllOf, s.OneOf, s.AnyOf} {
			for _, m := range list {
				out = append(out, flat([]*openapi3.Schema{m.Value})...)
			}
		}
	}
	return out
}
