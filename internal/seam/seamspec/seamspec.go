// Package seamspec embeds the Seam OpenAPI document this product is built
// against (openapi.json: the team's subset of npm @seamapi/types 1.977.0, MIT,
// plus /acs/users/list and the security schemes; README.md says how it was
// made) and validates requests, responses and webhook events against it.
//
// The simulator validates the requests it serves with it; tests validate both
// directions of every exchange with Transport, so a field-name mistake in the
// client or the simulator fails a test.
package seamspec

import (
	"context"
	_ "embed"
	"fmt"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

//go:embed openapi.json
var document []byte

// Load parses and checks the embedded document. Each call returns a new
// document, so a caller may adjust its copy.
func Load() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(document)
	if err != nil {
		return nil, fmt.Errorf("seamspec: load openapi.json: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("seamspec: openapi.json is not a valid OpenAPI document: %w", err)
	}
	return doc, nil
}

var shared = sync.OnceValues(NewValidator)

// Shared returns one Validator for the whole process; a Validator is safe for
// concurrent use and costs a parse of the document to build.
func Shared() (*Validator, error) { return shared() }
