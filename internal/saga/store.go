package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cardissuer/seamcards/internal/events"
)

// ErrConflict means the record changed since it was loaded; reload and
// decide again.
var ErrConflict = errors.New("issuance record changed concurrently")

// Store keeps records in the ISSUANCES bucket, one key per issuance, written
// with compare-and-set on the key's revision so that of two workers racing on
// one issuance exactly one wins.
type Store struct{ kv jetstream.KeyValue }

// BucketIndex holds the small entries that lead a Seam event to its issuance.
const BucketIndex = "ISSUANCE_INDEX"

// indexTTL bounds the index: an entry outlives any encoding by far.
const indexTTL = 30 * 24 * time.Hour

// OpenStore creates or updates the ISSUANCES bucket and returns its store.
func OpenStore(ctx context.Context, js jetstream.JetStream, replicas int) (*Store, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      events.BucketIssuances,
		Description: "latest state of every issuance, with the worker's bookkeeping under \"saga\"",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("create or update bucket %s: %w", events.BucketIssuances, err)
	}
	return &Store{kv: kv}, nil
}

// Load returns an issuance's record and its revision; a missing issuance is
// the zero Record with revision 0.
func (s *Store) Load(ctx context.Context, id string) (Record, uint64, error) {
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Record{}, 0, nil
	}
	if err != nil {
		return Record{}, 0, fmt.Errorf("load issuance %s: %w", id, err)
	}
	var r Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return Record{}, 0, fmt.Errorf("decode issuance %s: %w", id, err)
	}
	return r, e.Revision(), nil
}

// Save writes r if the key is still at rev (0: the key must not exist) and
// returns the new revision, or ErrConflict.
func (s *Store) Save(ctx context.Context, r Record, rev uint64) (uint64, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("encode issuance %s: %w", r.IssuanceID, err)
	}
	var n uint64
	if rev == 0 {
		n, err = s.kv.Create(ctx, r.IssuanceID, data)
	} else {
		n, err = s.kv.Update(ctx, r.IssuanceID, data, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, ErrConflict
	}
	if err != nil {
		return 0, fmt.Errorf("save issuance %s: %w", r.IssuanceID, err)
	}
	return n, nil
}

// Index leads Seam events to issuances: credential and attempt ids to the
// issuance, and an encoder to the issuances encoding on it.
type Index struct{ kv jetstream.KeyValue }

// OpenIndex creates or updates the index bucket.
func OpenIndex(ctx context.Context, js jetstream.JetStream, replicas int) (*Index, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketIndex,
		Description: "Seam credential, attempt and encoder ids → issuance ids",
		History:     1,
		TTL:         indexTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("create or update bucket %s: %w", BucketIndex, err)
	}
	return &Index{kv: kv}, nil
}

func credKey(id string) string          { return "cred." + id }
func attemptKey(id string) string       { return "attempt." + id }
func encoderKey(enc, iss string) string { return "enc." + enc + "." + iss }

// Credential records that credential id belongs to issuance iss.
func (x *Index) Credential(ctx context.Context, id, iss string) error {
	return x.put(ctx, credKey(id), iss)
}

// Attempt records that action attempt id belongs to issuance iss.
func (x *Index) Attempt(ctx context.Context, id, iss string) error {
	return x.put(ctx, attemptKey(id), iss)
}

// Encoder records that issuance iss encodes on encoder enc.
func (x *Index) Encoder(ctx context.Context, enc, iss string) error {
	return x.put(ctx, encoderKey(enc, iss), iss)
}

func (x *Index) put(ctx context.Context, key, iss string) error {
	if _, err := x.kv.Put(ctx, key, []byte(iss)); err != nil {
		return fmt.Errorf("index %s: %w", key, err)
	}
	return nil
}

// ByCredential returns the issuance of a credential, or "".
func (x *Index) ByCredential(ctx context.Context, id string) (string, error) {
	return x.get(ctx, credKey(id))
}

// ByAttempt returns the issuance of an action attempt, or "".
func (x *Index) ByAttempt(ctx context.Context, id string) (string, error) {
	return x.get(ctx, attemptKey(id))
}

func (x *Index) get(ctx context.Context, key string) (string, error) {
	e, err := x.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("index lookup %s: %w", key, err)
	}
	return string(e.Value()), nil
}

// ByEncoder returns the issuances that encoded on an encoder.
func (x *Index) ByEncoder(ctx context.Context, enc string) ([]string, error) {
	l, err := x.kv.ListKeysFiltered(ctx, "enc."+enc+".*")
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("index list for encoder %s: %w", enc, err)
	}
	defer l.Stop()
	prefix := len("enc." + enc + ".")
	var ids []string
	for k := range l.Keys() {
		ids = append(ids, k[prefix:])
	}
	return ids, nil
}
