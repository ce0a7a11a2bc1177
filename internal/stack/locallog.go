package stack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/agentgate/agentgate/internal/config"
)

// NewLocalLogger returns the logger of `agentgate up`, whose log is read by
// someone trying the gateway in a terminal. Each request is one short line
// (time, method, path, status, outcome, agent and format, bytes, duration);
// the gateway's full access line and the agent's and the emulator's lines
// about each call are details, left out. Warnings and errors from every
// server stay, as NewLogger's text writes them. At log.level debug, or with
// log.format json, every line of every server comes in full, as NewLogger
// writes it.
func NewLocalLogger(cfg config.Log, w io.Writer) *slog.Logger {
	if cfg.Level == "debug" || cfg.Format == "json" {
		return NewLogger(cfg, w)
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	out := &lockedWriter{w: w}
	text := slog.NewTextHandler(out, &slog.HandlerOptions{Level: level, ReplaceAttr: shortTime})
	return slog.New(&briefHandler{level: level, out: out, text: text})
}

// lockedWriter serialises the lines of handlers that share a writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// shortTime writes a record's time as the clock time: the day is today.
func shortTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		return slog.String(slog.TimeKey, a.Value.Time().Format(time.TimeOnly))
	}
	return a
}

// briefHandler writes the gateway's access line short, drops the inner
// servers' routine lines, and leaves everything else to text. It tells the
// servers apart by the "server" attribute StartLocal gives each logger.
type briefHandler struct {
	level  slog.Level
	out    *lockedWriter
	text   slog.Handler
	server string
}

func (h *briefHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *briefHandler) Handle(ctx context.Context, r slog.Record) error {
	switch {
	case h.server == "gateway" && r.Message == "request" && r.Level < slog.LevelWarn:
		_, err := io.WriteString(h.out, requestLine(r))
		return err
	case h.server != "gateway" && h.server != "" && r.Level < slog.LevelWarn:
		return nil // the agent's and the emulator's account of each call
	}
	return h.text.Handle(ctx, r)
}

func (h *briefHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	for _, a := range attrs {
		if a.Key == "server" {
			c.server = a.Value.String()
		}
	}
	c.text = h.text.WithAttrs(attrs)
	return &c
}

func (h *briefHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.text = h.text.WithGroup(name)
	return &c
}

// requestLine is the access line in short:
//
//	19:01:05 POST / → 200 completed (demo, transformed) 416 B in 19ms
func requestLine(r slog.Record) string {
	f := map[string]slog.Value{}
	r.Attrs(func(a slog.Attr) bool {
		f[a.Key] = a.Value.Resolve()
		return true
	})
	str := func(k string) string { return plain(f[k].String()) }
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s → %d", r.Time.Format(time.TimeOnly), str("method"), str("path"), f["status"].Int64())
	if o := str("outcome"); o != "" {
		b.WriteString(" " + o)
	}
	if agent := str("agent"); agent != "" {
		fmt.Fprintf(&b, " (%s, %s)", agent, str("format"))
	}
	fmt.Fprintf(&b, " %s in %s\n", size(f["bytes"].Int64()), brief(f["duration"].Duration()))
	return b.String()
}

// plain quotes s when it holds anything but printable characters, so a
// request's path cannot write control characters into the terminal.
func plain(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsGraphic(r) || unicode.IsSpace(r) }) {
		return strconv.Quote(s)
	}
	return s
}

func size(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1000)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1000/1000)
}

func brief(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}
