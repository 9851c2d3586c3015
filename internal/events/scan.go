package events

// scanEnvelope is the fast path of ReadEnvelope, for the bodies Seam sends:
// one pass that validates the whole document as JSON and picks the three
// top-level fields, without allocating beyond the three strings. It answers
// only when the answer is plain; ok is false for anything that needs
// encoding/json's rules to decide (invalid JSON, a top level that is not an
// object, escapes or non-ASCII in a top-level key or in a wanted value, a
// wanted value that is not a string, very deep nesting), and ReadEnvelope
// then asks encoding/json. FuzzScanEnvelope holds the two to the same
// answers.
func scanEnvelope(b []byte) (env Envelope, ok bool) {
	s := scanner{b: b}
	s.ws()
	if s.i >= len(b) || b[s.i] != '{' {
		return env, false
	}
	s.i++
	s.ws()
	if s.i < len(b) && b[s.i] == '}' {
		s.i++
	} else {
		for {
			s.ws()
			key, plain := s.str()
			if !s.ok || !plain {
				return env, false
			}
			s.ws()
			if s.i >= len(b) || b[s.i] != ':' {
				return env, false
			}
			s.i++
			s.ws()
			var field *string
			switch {
			case equalFoldASCII(key, "event_id"):
				field = &env.EventID
			case equalFoldASCII(key, "event_type"):
				field = &env.EventType
			case equalFoldASCII(key, "workspace_id"):
				field = &env.WorkspaceID
			}
			if field != nil {
				if s.i >= len(b) || b[s.i] != '"' {
					return env, false // null or another type: encoding/json decides
				}
				v, plain := s.str()
				if !s.ok || !plain {
					return env, false
				}
				*field = string(v)
			} else if !s.value(0) {
				return env, false
			}
			s.ws()
			if s.i >= len(b) {
				return env, false
			}
			if b[s.i] == ',' {
				s.i++
				continue
			}
			if b[s.i] != '}' {
				return env, false
			}
			s.i++
			break
		}
	}
	s.ws()
	return env, s.i == len(b)
}

// maxScanDepth is where the fast path gives up on nesting and leaves the
// verdict (encoding/json allows 10000 levels) to the slow path.
const maxScanDepth = 500

type scanner struct {
	b  []byte
	i  int
	ok bool // set by str
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str reads a string at s.i. plain reports that it has neither escapes nor
// bytes outside printable ASCII, so its bytes are its value.
func (s *scanner) str() (v []byte, plain bool) {
	s.ok = false
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	plain = true
	for i := start; i < len(s.b); i++ {
		c := s.b[i]
		switch {
		case c == '"':
			s.i, s.ok = i+1, true
			return s.b[start:i], plain
		case c < 0x20:
			return nil, false
		case c == '\\':
			plain = false
			i++
			if i >= len(s.b) {
				return nil, false
			}
			switch s.b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s.b) {
					return nil, false
				}
				for _, h := range s.b[i+1 : i+5] {
					if !isHex(h) {
						return nil, false
					}
				}
				i += 4
			default:
				return nil, false
			}
		case c >= 0x7f:
			plain = false
		}
	}
	return nil, false
}

// value skips one JSON value, reporting whether it is valid.
func (s *scanner) value(depth int) bool {
	if s.i >= len(s.b) || depth > maxScanDepth {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		s.str()
		return s.ok
	case c == '{':
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == '}' {
			s.i++
			return true
		}
		for {
			s.ws()
			if s.str(); !s.ok {
				return false
			}
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] != ':' {
				return false
			}
			s.i++
			s.ws()
			if !s.value(depth + 1) {
				return false
			}
			if !s.next('}') {
				return s.ok
			}
		}
	case c == '[':
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return true
		}
		for {
			s.ws()
			if !s.value(depth + 1) {
				return false
			}
			if !s.next(']') {
				return s.ok
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

// next consumes the separator after a member or element: true after a
// comma (more follow); false at the closer (s.ok true) or on an error
// (s.ok false).
func (s *scanner) next(closer byte) bool {
	s.ws()
	s.ok = false
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case ',':
		s.i++
		return true
	case closer:
		s.i++
		s.ok = true
	}
	return false
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// number accepts JSON's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	s.i = i
	return true
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// equalFoldASCII compares an ASCII key with a lower-case name the way
// encoding/json matches ASCII keys to fields: ignoring case.
func equalFoldASCII(key []byte, name string) bool {
	if len(key) != len(name) {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}
