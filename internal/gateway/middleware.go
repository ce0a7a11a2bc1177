package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	logInfoKey
)

// logInfo collects what the access log line reports about a request.
type logInfo struct {
	clientIP  string
	principal string
	agent     string
	format    string
	session   string
	outcome   string
	// events, skipped and heartbeats count the stream; tokens its usage.
	events, skipped, heartbeats int
	tokens                      int64
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

func info(ctx context.Context) *logInfo {
	li, _ := ctx.Value(logInfoKey).(*logInfo)
	if li == nil {
		return &logInfo{}
	}
	return li
}

func setOutcome(ctx context.Context, outcome string) { info(ctx).outcome = outcome }

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// withRequestID gives every request an id, on its context and response.
func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// recorder notes the status, the first byte's time and the bytes written.
// Unwrap lets http.ResponseController reach the real writer's Flush.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	first  time.Time
}

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.first.IsZero() {
		rec.first = time.Now()
	}
	n, err := rec.ResponseWriter.Write(p)
	rec.bytes += int64(n)
	return n, err
}

func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// withAccessLog writes one line per request. It never logs prompts.
func (s *Server) withAccessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		li := &logInfo{}
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), logInfoKey, li)))
		var ttfb time.Duration
		if !rec.first.IsZero() {
			ttfb = rec.first.Sub(start)
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("id", requestID(r.Context())),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("client", li.clientIP),
			slog.String("principal", li.principal),
			slog.String("agent", li.agent),
			slog.String("format", li.format),
			slog.String("session", li.session),
			slog.Int("status", rec.status),
			slog.String("outcome", li.outcome),
			slog.Duration("ttfb", ttfb),
			slog.Duration("duration", time.Since(start)),
			slog.Int64("bytes", rec.bytes),
			slog.Int("events", li.events),
			slog.Int("skipped", li.skipped),
			slog.Int("heartbeats", li.heartbeats),
			slog.Int64("tokens", li.tokens),
		)
	})
}
