package limit

import (
	"testing"
	"time"
)

// TestRevocations: a revoked id is listed in every store until its time
// is up, other ids are not, and an id whose time has passed is not listed
// at all. Two Revocations on one store (two gateway instances) agree.
func TestRevocations(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			h := st.setup(t)(t)
			a, b := NewRevocations(h.store), NewRevocations(h.store)
			ctx := t.Context()
			if err := a.Revoke(ctx, "tok-1", time.Now().Add(ttl)); err != nil {
				t.Fatal(err)
			}
			if err := a.Revoke(ctx, "tok-old", time.Now().Add(-time.Second)); err != nil {
				t.Fatal(err)
			}
			for _, tt := range []struct {
				id   string
				want bool
			}{{"tok-1", true}, {"tok-2", false}, {"tok-old", false}} {
				got, err := b.Revoked(ctx, tt.id)
				if err != nil || got != tt.want {
					t.Fatalf("Revoked(%s) = %v, %v; want %v", tt.id, got, err, tt.want)
				}
			}
			h.advance(ttl + h.slack + 50*time.Millisecond)
			if got, err := b.Revoked(ctx, "tok-1"); err != nil || got {
				t.Fatalf("after its time: Revoked = %v, %v; want false", got, err)
			}
		})
	}
}
