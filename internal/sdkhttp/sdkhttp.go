// Package sdkhttp makes the HTTP clients the AWS SDK streams through.
package sdkhttp

import (
	"io"
	"net/http"
)

// Doer is the SDK's HTTP client interface (aws.HTTPClient).
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Guard shields a streamed response from a race between the SDK and
// net/http. The SDK closes the request body as soon as Do returns, while
// net/http, having written the body, may still be probing it for bytes
// beyond its length. The SDK's closed body answers that probe's WriteTo
// with io.EOF, which io.Copy takes for a failure, and net/http then closes
// the connection under the response being streamed. Hiding WriteTo makes
// the probe use Read, whose io.EOF io.Copy takes for the end.
func Guard(c Doer) Doer { return guard{c} }

type guard struct{ c Doer }

func (g guard) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = struct{ io.ReadCloser }{req.Body}
	}
	return g.c.Do(req)
}
