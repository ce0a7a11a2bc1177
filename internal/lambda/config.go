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
//
// Behind the origin lock, every request the gateway serves came through
// CloudFront, so the function URL's caller (requestContext.http.sourceIp)
// is CloudFront, whose CloudFront-Viewer-Address names the viewer: unless
// network.cloudFrontProxies says otherwise, every peer is believed for it.
// Without the origin lock nothing vouches for the header, and it is not
// read. The lock is on when its header is named: its secret may come later,
// from Secrets Manager, and the gateway refuses a header without one.
//
// Durable turns are off unless the limits store is shared (dynamodb, or
// redis) or stream.durable says otherwise: a turn whose viewer left keeps
// its instance busy, billed, for up to stream.detachedTimeout, which is
// worth it only when the viewer can resume on another instance.
func Configure(cfg *config.Config) {
	if cfg.Stream.Durable == nil && cfg.Limits.Store != "dynamodb" && cfg.Limits.Store != "redis" {
		off := false
		cfg.Stream.Durable = &off
	}
	cfg.Log.Format = "json"
	if cfg.OriginLock.Header != "" && len(cfg.Network.CloudFrontProxies) == 0 {
		cfg.Network.CloudFrontProxies = []string{"0.0.0.0/0", "::/0"}
	}
	if cfg.Timeouts.Total <= 0 || cfg.Timeouts.Total > MaxStream {
		cfg.Timeouts.Total = MaxStream
	}
}
