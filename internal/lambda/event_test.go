package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

func TestNewRequest(t *testing.T) {
	event := func(edit func(map[string]any)) []byte {
		var ev map[string]any
		_ = json.Unmarshal(functionURLEvent("POST", "/", `{"prompt":"hi"}`), &ev)
		edit(ev)
		b, _ := json.Marshal(ev)
		return b
	}
	httpOf := func(ev map[string]any) map[string]any {
		return ev["requestContext"].(map[string]any)["http"].(map[string]any)
	}
	tests := []struct {
		name     string
		event    []byte
		wantBody string
		wantErr  bool
	}{
		{"a plain body is the request's body", event(func(map[string]any) {}), `{"prompt":"hi"}`, false},
		{"a base64 body is decoded", event(func(ev map[string]any) {
			ev["body"], ev["isBase64Encoded"] = "eyJwcm9tcHQiOiJoaSJ9", true
		}), `{"prompt":"hi"}`, false},
		{"a body that is not base64 is refused", event(func(ev map[string]any) {
			ev["body"], ev["isBase64Encoded"] = "!!", true
		}), "", true},
		{"payload format 1.0 is refused", event(func(ev map[string]any) { ev["version"] = "1.0" }), "", true},
		{"an event without a method is refused", event(func(ev map[string]any) { delete(httpOf(ev), "method") }), "", true},
		{"a method that is not a token is refused", event(func(ev map[string]any) { httpOf(ev)["method"] = "PO ST" }), "", true},
		{"a path that is not absolute is refused", event(func(ev map[string]any) { ev["rawPath"] = "x" }), "", true},
		{"an event of another service is refused", []byte(`{"Records":[]}`), "", true},
		{"something that is not JSON is refused", []byte(`hello`), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := newRequest(context.Background(), tt.event)
			if tt.wantErr {
				if !errors.Is(err, ErrNotURLEvent) {
					t.Fatalf("err %v, want ErrNotURLEvent", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r.Body)
			if string(b) != tt.wantBody || r.ContentLength != int64(len(tt.wantBody)) {
				t.Fatalf("body %q (length %d), want %q", b, r.ContentLength, tt.wantBody)
			}
		})
	}
}
