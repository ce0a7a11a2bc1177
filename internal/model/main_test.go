package model

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: a
// provider that forgets to close a stream leaks the SDK's or net/http's
// reader goroutines.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
