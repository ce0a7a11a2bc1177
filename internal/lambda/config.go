package lambda

import (
	"time"

	"github.com/agentgate/agentgate/internal/config"
)

// MaxStream is the longest a stream may last in Lambda mode: Lambda ends an
// invocation at 15 minutes, and a stream that ends a little before gets
// the format's terminal error (stream_too_long) rather than a cut.
const MaxStream = 15*time.Minute - 10*time.Second

// Configure adapts cfg to Lambda: logs as JSON lines on stdout or stderr,
// for CloudWatch, and no stream longer than MaxStream. A function with a
// shorter timeout should set timeouts.total below it.
func Configure(cfg *config.Config) {
	cfg.Log.Format = "json"
	if cfg.Timeouts.Total <= 0 || cfg.Timeouts.Total > MaxStream {
		cfg.Timeouts.Total = MaxStream
	}
}
