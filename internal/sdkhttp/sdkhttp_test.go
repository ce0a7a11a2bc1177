package sdkhttp

import (
	"errors"
	"io"
	"net/http"
	"testing"
)

// closedBody behaves like the SDK's request body once the SDK closed it.
type closedBody struct{ closed bool }

func (b *closedBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, io.EOF
	}
	return 0, errors.New("read before close")
}

func (b *closedBody) WriteTo(io.Writer) (int64, error) { return 0, io.EOF }

func (b *closedBody) Close() error {
	b.closed = true
	return nil
}

type doFunc func(*http.Request) (*http.Response, error)

func (f doFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

func TestGuardLetsAClosedBodyEndQuietly(t *testing.T) {
	sdkBody := &closedBody{}
	var copyErr error
	g := Guard(doFunc(func(r *http.Request) (*http.Response, error) {
		// What net/http does when the SDK wins the race: the body is closed
		// before the probe for extra bytes copies from it.
		sdkBody.Close()
		_, copyErr = io.Copy(io.Discard, r.Body)
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
	}))
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/", sdkBody)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Do(req); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if copyErr != nil {
		t.Errorf("copying the closed body failed with %v; net/http would close the connection", copyErr)
	}
}
