package format_test

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/format"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// streams returns the recorded upstream streams by name. A stream whose
// name starts with "truncated" is read with an error at its end, as a
// broken upstream connection gives.
func streams(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "streams", "*.sse"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no recorded streams: %v", err)
	}
	m := make(map[string][]byte, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m[strings.TrimSuffix(filepath.Base(p), ".sse")] = b
	}
	return m
}

func body(name string, stream []byte) io.Reader {
	if strings.HasPrefix(name, "truncated") {
		return cutReader{bytes.NewReader(stream)}
	}
	return bytes.NewReader(stream)
}

// TestGolden drives every format over every recorded stream and compares
// the output with testdata/golden/<stream>.<variant>.
func TestGolden(t *testing.T) {
	for name, stream := range streams(t) {
		for _, v := range variants() {
			t.Run(name+"/"+v.name, func(t *testing.T) {
				var out bytes.Buffer
				r := relay(format.New(v.format, &out, v.opts), body(name, stream), false)
				if r.err != nil {
					t.Fatalf("encoder failed: %v", r.err)
				}
				if err := checkFraming(v.format, r, out.Bytes()); err != nil {
					t.Errorf("framing: %v", err)
				}
				path := filepath.Join("testdata", "golden", name+"."+v.name)
				if *update {
					if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to write it)", err)
				}
				if !bytes.Equal(out.Bytes(), want) {
					t.Errorf("output differs from %s (run with -update to rewrite it)\n got: %q\nwant: %q", path, out.Bytes(), want)
				}
			})
		}
	}
}

// TestHeartbeatsKeepTheAnswer checks that heartbeats before and between
// blocks leave what a client reads unchanged, in every format and stream.
func TestHeartbeatsKeepTheAnswer(t *testing.T) {
	for name, stream := range streams(t) {
		for _, v := range variants() {
			t.Run(name+"/"+v.name, func(t *testing.T) {
				var plain, beating bytes.Buffer
				relay(format.New(v.format, &plain, v.opts), body(name, stream), false)
				r := relay(format.New(v.format, &beating, v.opts), body(name, stream), true)
				if err := sameAnswer(v.format, plain.Bytes(), beating.Bytes()); err != nil {
					t.Error(err)
				}
				if r.input != format.Bytes { // a pass-through's heartbeats sit between its upstream bytes
					if err := checkFraming(v.format, r, beating.Bytes()); err != nil {
						t.Errorf("framing with heartbeats: %v", err)
					}
				}
			})
		}
	}
}
