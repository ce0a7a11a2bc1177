package gateway

import (
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// withRequestBounds holds every request to the bounds of its connection,
// on every route, before anything else reads it:
//
//   - Headers past MaxHeaderBytes get the gateway's own 431. The HTTP
//     server's hard limit sits above it, so only requests far past the
//     bound meet net/http's plain-text refusal.
//   - The server's read deadline (server.readTimeout) covers the request
//     body, and is lifted once the body has been read to its end, or at
//     once when there is none: a stream outlives it, and net/http would
//     take a deadline that fires later as the client going away.
//   - An answer sent while the body is still unread closes the connection
//     right after it. Otherwise net/http would read the rest of the body
//     first, so a client that declared more than it sends would get no
//     answer, and would hold the connection until the deadline.
//   - A chunked request closes its connection after the answer. The HTTP
//     server drops a Content-Length that came with Transfer-Encoding before
//     the gateway sees the request, so closing after every chunked one is
//     how the gateway honours RFC 9112 §6.1 for the ones that had both.
func (s *Server) withRequestBounds(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := headerBytes(r); s.opts.MaxHeaderBytes > 0 && n > s.opts.MaxHeaderBytes {
			w.Header().Set("Connection", "close")
			s.writeError(w, r, &apiError{Status: http.StatusRequestHeaderFieldsTooLarge, Code: "headers_too_large",
				Message: fmt.Sprintf("the request line and headers are larger than %d bytes", s.opts.MaxHeaderBytes)})
			return
		}
		// Only net/http's own connections have read deadlines and read
		// bodies on after a handler; a Lambda request has neither.
		if r.Context().Value(http.LocalAddrContextKey) == nil {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if r.Body == nil || r.Body == http.NoBody {
			_ = rc.SetReadDeadline(time.Time{})
			next.ServeHTTP(w, r)
			return
		}
		body := &boundedBody{ReadCloser: r.Body, rc: rc}
		r.Body = body
		st := state(r.Context())
		st.body, st.chunked = body, len(r.TransferEncoding) > 0
		next.ServeHTTP(w, r)
		if st.closing {
			// net/http reads on for the rest of the body once the handler
			// returns, answer sent or not; the connection is closing,
			// so that read ends now rather than at the deadline.
			_ = rc.SetReadDeadline(time.Now())
		}
	})
}

// headerBytes counts a request's line and headers as they came on the
// wire, near enough: each header line is name, ": ", value and CRLF.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n + len(r.Host) + len("Host: \r\n")
}

// boundedBody lifts the connection's read deadline when the body has been
// read to its end, and remembers that it was.
type boundedBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done atomic.Bool
}

func (b *boundedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done.Swap(true) {
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// closeIfUnread marks the answer st is about to start "Connection: close"
// when the request body is still unread, or was chunked. The recorder
// calls it at the answer's first write.
func closeIfUnread(st *requestState, h http.Header) {
	if st.body != nil && (st.chunked || !st.body.done.Load()) {
		st.closing = true
		h.Set("Connection", "close")
	}
}
