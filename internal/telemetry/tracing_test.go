package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestTracerProviderExportsOverOTLPHTTP(t *testing.T) {
	type export struct {
		path, contentType string
		body              []byte
	}
	var mu sync.Mutex
	var got []export
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, export{r.URL.Path, r.Header.Get("Content-Type"), body})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()

	for _, endpoint := range []string{collector.URL, collector.URL + "/", collector.URL + "/v1/traces"} {
		t.Run("endpoint "+strings.TrimPrefix(endpoint, collector.URL)+" exports to /v1/traces", func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			tp, err := NewTracerProvider(context.Background(), TracingOptions{Endpoint: endpoint, SampleRatio: 1, ServiceName: "agentgate-test", Version: "v9", Sync: true})
			if err != nil {
				t.Fatal(err)
			}
			_, span := tp.Tracer("test").Start(context.Background(), "POST /{$}")
			span.End()
			if err := tp.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 1 {
				t.Fatalf("the collector got %d exports, want 1", len(got))
			}
			e := got[0]
			if e.path != "/v1/traces" || e.contentType != "application/x-protobuf" {
				t.Fatalf("export to %s as %s, want /v1/traces as application/x-protobuf", e.path, e.contentType)
			}
			// The protobuf carries the span's name and the service's.
			for _, want := range []string{"POST /{$}", "agentgate-test", "v9"} {
				if !strings.Contains(string(e.body), want) {
					t.Errorf("the export does not carry %q", want)
				}
			}
		})
	}
	t.Run("a ratio of 0 records no new trace", func(t *testing.T) {
		tp, err := NewTracerProvider(context.Background(), TracingOptions{Endpoint: collector.URL, SampleRatio: 0, ServiceName: "x", Sync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer tp.Shutdown(context.Background())
		if _, span := tp.Tracer("test").Start(context.Background(), "x"); span.IsRecording() {
			t.Fatal("a span was recorded with sample ratio 0")
		}
	})
}
