package stack

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/config"
)

// logEach logs what each server logs about one request, and a warning.
func logEach(log *slog.Logger, path string) {
	log.With("server", "agent").Info("invocation", "session", "s1abc…", "status", 200, "outcome", "ok")
	log.With("server", "agentcore-local").Info("agentcore-local request", "arn", demoARN, "status", 200)
	log.With("server", "gateway").LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("id", "421215a89b54773c1378d9d9"), slog.String("method", "POST"), slog.String("path", path),
		slog.String("principal", "anonymous"), slog.String("agent", "demo"), slog.String("format", "transformed"),
		slog.Int("status", 200), slog.String("outcome", "completed"), slog.Duration("duration", 19356719*time.Nanosecond),
		slog.Int64("bytes", 416))
	log.With("server", "agent").Warn("invocation", "status", 502, "error", "provider failed")
}

func TestNewLocalLogger(t *testing.T) {
	tests := []struct {
		name      string
		cfg       config.Log
		path      string
		want, not []string
		lines     int
	}{
		{"a request is one short line, and warnings stay", config.Log{Level: "info", Format: "auto"}, "/",
			[]string{" POST / → 200 completed (demo, transformed) 416 B in 19ms\n", `level=WARN msg=invocation server=agent status=502 error="provider failed"`},
			[]string{"principal", "agentcore-local request", "421215a8", demoARN}, 2},
		{"a path with control characters is quoted", config.Log{Level: "info", Format: "text"}, "/\n\x1b[31mfake",
			[]string{` POST "/\n\x1b[31mfake" → 200`}, []string{"\x1b"}, 2},
		{"warn level leaves out the requests", config.Log{Level: "warn", Format: "auto"}, "/",
			[]string{"level=WARN"}, []string{"POST"}, 1},
		{"debug level has every line in full", config.Log{Level: "debug", Format: "json"}, "/",
			[]string{`"msg":"invocation","server":"agent"`, `"msg":"agentcore-local request"`, `"principal":"anonymous"`}, nil, 4},
		{"json has every line in full", config.Log{Level: "info", Format: "json"}, "/",
			[]string{`"msg":"agentcore-local request"`, `"id":"421215a89b54773c1378d9d9"`}, nil, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			logEach(NewLocalLogger(tt.cfg, &out), tt.path)
			got := out.String()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("the log lacks %q:\n%s", w, got)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("the log has %q:\n%s", n, got)
				}
			}
			if n := strings.Count(got, "\n"); n != tt.lines {
				t.Errorf("%d lines, want %d:\n%s", n, tt.lines, got)
			}
		})
	}
}
