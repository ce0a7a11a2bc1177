package lambda

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The Runtime API's error trailers, and the content type of a function URL
// streaming response.
const (
	trailerErrorType = "Lambda-Runtime-Function-Error-Type"
	trailerErrorBody = "Lambda-Runtime-Function-Error-Body"
	contentType      = "application/vnd.awslambda.http-integration-response"
)

// ErrStreamBroken is the cause a request's context is cancelled with when
// the Runtime API closes (or answers) the response stream before its end.
var ErrStreamBroken = errors.New("lambda: the Runtime API ended the response stream")

// answerTimeout bounds the wait for the Runtime API's answer once the last
// chunk went out; it answers at once.
const answerTimeout = 10 * time.Second

// stream is one streaming response to the Runtime API: a POST written by
// hand as HTTP/1.1 on its own connection, its body chunked, one chunk per
// write. The Runtime API says nothing until the body has ended, so a watcher
// reading the same connection takes anything before that (a close, a reset,
// an early answer) as a broken stream and calls onBreak at once. A write
// that fails calls it too, before the write returns, as net/http cancels a
// request whose connection fails a write: whoever sees the failed write
// then finds the request cancelled, and knows the viewer went away.
type stream struct {
	conn    net.Conn
	br      *bufio.Reader
	buf     []byte     // one chunk's framing and data, reused
	watched chan error // what the watcher saw first on the connection
	ended   atomic.Bool
	onBreak func(error)
	broken  sync.Once // onBreak runs once
	err     error     // the first write error; nothing is written after it
}

// openStream connects to the Runtime API at api and starts the response of
// invocation id. onBreak runs, once at most and from another goroutine, if
// the stream breaks before end.
func openStream(ctx context.Context, api, id string, onBreak func(error)) (*stream, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", api)
	if err != nil {
		return nil, fmt.Errorf("lambda: response stream: %w", err)
	}
	s := &stream{conn: conn, br: bufio.NewReader(conn), watched: make(chan error, 1), onBreak: onBreak}
	head := "POST /2018-06-01/runtime/invocation/" + url.PathEscape(id) + "/response HTTP/1.1\r\n" +
		"Host: " + api + "\r\n" +
		"User-Agent: agentgate\r\n" +
		"Content-Type: " + contentType + "\r\n" +
		"Lambda-Runtime-Function-Response-Mode: streaming\r\n" +
		"Transfer-Encoding: chunked\r\n" +
		"Trailer: " + trailerErrorType + ", " + trailerErrorBody + "\r\n\r\n"
	if _, err := conn.Write([]byte(head)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("lambda: response stream: %w", err)
	}
	go s.watch()
	return s, nil
}

// watch waits for the first byte or error from the Runtime API. Before the
// body's end either one means the stream is broken: writes are stopped
// (a blocked one returns) and onBreak runs.
func (s *stream) watch() {
	_, err := s.br.Peek(1)
	if !s.ended.Load() {
		cause := ErrStreamBroken
		if err != nil {
			cause = fmt.Errorf("%w: %w", ErrStreamBroken, err)
		}
		_ = s.conn.SetWriteDeadline(time.Now())
		s.broke(cause)
	}
	s.watched <- err
}

// broke calls onBreak, the first time only.
func (s *stream) broke(cause error) { s.broken.Do(func() { s.onBreak(cause) }) }

// chunk writes the parts as one chunk, with one Write on the connection.
// Nothing is written for no bytes: an empty chunk would end the body.
func (s *stream) chunk(parts ...[]byte) error {
	if s.err != nil {
		return s.err
	}
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n == 0 {
		return nil
	}
	b := strconv.AppendInt(s.buf[:0], int64(n), 16)
	b = append(b, "\r\n"...)
	for _, p := range parts {
		b = append(b, p...)
	}
	b = append(b, "\r\n"...)
	s.buf = b
	if _, err := s.conn.Write(b); err != nil {
		s.err = fmt.Errorf("%w: %w", ErrStreamBroken, err)
		s.broke(s.err)
		return s.err
	}
	return nil
}

// end writes the last chunk, with the error trailers when errType is set,
// then reads the Runtime API's answer and closes the connection.
func (s *stream) end(errType, errBody string) error {
	s.ended.Store(true)
	defer s.conn.Close()
	if s.err != nil {
		return s.err
	}
	b := append(s.buf[:0], "0\r\n"...)
	if errType != "" {
		b = append(b, trailerErrorType+": "+errType+"\r\n"+trailerErrorBody+": "+errBody+"\r\n"...)
	}
	b = append(b, "\r\n"...)
	if _, err := s.conn.Write(b); err != nil {
		return fmt.Errorf("%w: %w", ErrStreamBroken, err)
	}
	_ = s.conn.SetReadDeadline(time.Now().Add(answerTimeout))
	if err := <-s.watched; err != nil {
		return fmt.Errorf("lambda: reading the Runtime API's answer: %w", err)
	}
	resp, err := http.ReadResponse(s.br, nil)
	if err != nil {
		return fmt.Errorf("lambda: reading the Runtime API's answer: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("lambda: the Runtime API refused the response: %s", resp.Status)
	}
	return nil
}
