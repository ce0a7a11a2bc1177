package limit

import (
	"context"
	"time"
)

// Revocations lists revoked credentials by id until they would have
// expired anyway, in a Store: a sign-out then holds on every gateway
// instance that shares the store, not only the one that served it.
type Revocations struct {
	store Store
}

// NewRevocations keeps the list in store.
func NewRevocations(store Store) *Revocations { return &Revocations{store: store} }

func revokedKey(id string) string { return "revoked:" + id }

// Revoke lists id until until. A credential past until is refused for
// its expiry anyway, so it is not listed.
func (r *Revocations) Revoke(ctx context.Context, id string, until time.Time) error {
	ttl := time.Until(until)
	if ttl <= 0 {
		return nil
	}
	_, err := r.store.Spend(ctx, revokedKey(id), 1, ttl)
	return err
}

// Revoked reports whether id is listed.
func (r *Revocations) Revoked(ctx context.Context, id string) (bool, error) {
	n, err := r.store.Spent(ctx, revokedKey(id))
	return n > 0, err
}
