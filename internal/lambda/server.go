package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"time"

	"github.com/agentgate/agentgate/internal/format"
)

// maxEventBytes bounds an invocation's event. A function URL request is at
// most 6 MB; base64 makes that 8.
const maxEventBytes = 10 << 20

// Server serves Handler to a function URL through the Lambda Runtime API,
// one invocation at a time, as Lambda runs them.
type Server struct {
	// API is the Runtime API's host:port, AWS_LAMBDA_RUNTIME_API.
	API string
	// Handler serves each invocation's request. The request's context is
	// cancelled, with cause ErrStreamBroken, as soon as the response
	// stream to the Runtime API breaks.
	Handler http.Handler
	// Abort, when set, runs when Serve's context ends during an invocation,
	// so that its stream ends with a terminal error instead of a cut (the
	// gateway's Abort).
	Abort func(context.Context)
	// Prepare, when set, runs as each invocation starts, before its event
	// is read: a frozen function runs nothing between invocations, so the
	// gateway refreshes its secret there when it is stale
	// (stack.Live.RefreshIfStale).
	Prepare func(context.Context)
	// Logger receives the adapter's own problems; nil discards them.
	Logger *slog.Logger
}

// invocation is one event the Runtime API handed out.
type invocation struct {
	id      string
	payload []byte
}

// Serve takes invocations until ctx ends, then returns nil, or until the
// Runtime API fails, then returns why.
func (s *Server) Serve(ctx context.Context) error {
	if s.API == "" || s.Handler == nil {
		return errors.New("lambda: Server needs API and Handler")
	}
	// The Runtime API is a local address: never through a proxy, and never
	// timed out (next blocks while the function is frozen).
	client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConns: 1}}
	defer client.CloseIdleConnections()
	for {
		inv, err := s.next(ctx, client)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		s.invoke(ctx, client, inv)
	}
}

// next waits for the next invocation.
func (s *Server) next(ctx context.Context, client *http.Client) (invocation, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.API+"/2018-06-01/runtime/invocation/next", nil)
	if err != nil {
		return invocation{}, fmt.Errorf("lambda: %w", err)
	}
	req.Header.Set("User-Agent", "agentgate")
	resp, err := client.Do(req)
	if err != nil {
		return invocation{}, fmt.Errorf("lambda: next invocation: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return invocation{}, fmt.Errorf("lambda: next invocation: %s", resp.Status)
	}
	payload, err := io.ReadAll(io.LimitReader(resp.Body, maxEventBytes+1))
	if err != nil {
		return invocation{}, fmt.Errorf("lambda: next invocation: %w", err)
	}
	inv := invocation{id: resp.Header.Get("Lambda-Runtime-Aws-Request-Id"), payload: payload}
	if inv.id == "" {
		return invocation{}, errors.New("lambda: next invocation: no Lambda-Runtime-Aws-Request-Id")
	}
	return inv, nil
}

// invoke serves one invocation. Its request's context is not Serve's: a
// stop signal aborts the stream (Abort) rather than cutting it, and only a
// broken response stream cancels it.
func (s *Server) invoke(ctx context.Context, client *http.Client, inv invocation) {
	log := slog.New(slog.DiscardHandler)
	if s.Logger != nil {
		log = s.Logger
	}
	log = log.With("awsRequestId", inv.id)
	if s.Prepare != nil {
		s.Prepare(ctx)
	}
	rctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var r *http.Request
	var err error
	if len(inv.payload) > maxEventBytes {
		err = fmt.Errorf("%w: larger than %d bytes", ErrNotURLEvent, maxEventBytes)
	} else {
		r, err = newRequest(rctx, inv.payload)
	}
	if err != nil {
		log.Warn("invocation refused", "error", err.Error())
		if err := s.invocationError(ctx, client, inv.id, err); err != nil {
			log.Error("reporting an invocation error failed", "error", err.Error())
		}
		return
	}
	st, err := openStream(ctx, s.API, inv.id, func(err error) { cancel(err) })
	if err != nil {
		log.Error("opening the response stream failed", "error", err.Error())
		return
	}
	w := newResponseWriter(st, r.Method)
	stop := context.AfterFunc(ctx, s.abort)
	s.serveHTTP(w, r, log)
	stop()
	if err := w.finish(); err != nil {
		if errors.Is(err, ErrStreamBroken) {
			log.Info("the response stream ended before the answer", "error", err.Error())
			return
		}
		log.Error("the response stream failed", "error", err.Error())
	}
}

// serveHTTP runs the handler. A panic fails the response instead of the
// process, as net/http's server would.
func (s *Server) serveHTTP(w *responseWriter, r *http.Request, log *slog.Logger) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v != http.ErrAbortHandler {
			log.Error("handler panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
		if !w.started {
			w.WriteHeader(http.StatusInternalServerError)
		}
		w.ReportFailure(format.Failure{Code: "internal_error", Message: "the gateway failed while answering"})
	}()
	s.Handler.ServeHTTP(w, r)
}

func (s *Server) abort() {
	if s.Abort == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.Abort(ctx)
}

// invocationError tells the Runtime API that an invocation could not be
// served at all.
func (s *Server) invocationError(ctx context.Context, client *http.Client, id string, cause error) error {
	const errType = "Runtime.InvalidEvent"
	body, _ := json.Marshal(struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}{cause.Error(), errType})
	u := "http://" + s.API + "/2018-06-01/runtime/invocation/" + url.PathEscape(id) + "/error"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(trailerErrorType, errType)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("lambda: invocation error: %s", resp.Status)
	}
	return nil
}
