package gateway

import (
	"net/http"

	"github.com/agentgate/agentgate/internal/format"
)

// FailureReporter is implemented by a ResponseWriter that can tell its
// receiver a started stream failed, beside the format's terminal error in
// the body: Lambda's Runtime API takes it as error trailers. The gateway
// calls it at most once, after the terminal error is written.
type FailureReporter interface {
	ReportFailure(f format.Failure)
}

// reportFailure hands f to w, or to the writer w wraps, if it is a
// FailureReporter.
func reportFailure(w http.ResponseWriter, f format.Failure) {
	for {
		if fr, ok := w.(FailureReporter); ok {
			fr.ReportFailure(f)
			return
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}
