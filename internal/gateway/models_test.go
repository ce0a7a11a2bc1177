package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/auth"
)

// headerAuth makes the X-Test-User header the caller's principal.
type headerAuth struct{}

func (headerAuth) Authenticate(r *http.Request) (auth.Principal, error) {
	if u := r.Header.Get("X-Test-User"); u != "" {
		return auth.Principal{ID: "key:" + u, Method: "apikey"}, nil
	}
	return auth.Principal{}, auth.ErrNoCredentials
}

func TestModelsRetrieve(t *testing.T) {
	inv := &pipeInvoker{calls: make(chan call, 1)}
	srv := newTestServer(t, inv, func(o *Options) {
		o.Auth = headerAuth{}
		o.Agents["private"] = inv
		o.Access = map[string][]string{"private": {"key:bob"}}
	})
	get := func(id string) *http.Response {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+"/v1/models/"+id, nil)
		req.Header.Set("X-Test-User", "alice")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := get("demo")
	var m struct {
		ID, Object string
		OwnedBy    string `json:"owned_by"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 || m.ID != "demo" || m.Object != "model" {
		t.Fatalf("status %d, model %+v (%v)", resp.StatusCode, m, err)
	}
	checkOpenAIError(t, get("nope"), 404, "model_not_found", "model")
	checkOpenAIError(t, get("private"), 404, "model_not_found", "model")
}

// checkOpenAIError checks that resp is OpenAI's error object with status,
// code and param, worded with the request id.
func checkOpenAIError(t *testing.T, resp *http.Response, status int, code, param string) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	var e struct {
		Error struct {
			Message, Type, Code string
			Param               *string
		}
	}
	if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != status || e.Error.Code != code || e.Error.Type == "" {
		t.Fatalf("status %d, body %s; want %d with code %s", resp.StatusCode, body, status, code)
	}
	if (param == "") != (e.Error.Param == nil) || (e.Error.Param != nil && *e.Error.Param != param) {
		t.Errorf("param %v, want %q (%s)", e.Error.Param, param, body)
	}
	if !strings.Contains(e.Error.Message, resp.Header.Get(RequestIDHeader)) {
		t.Errorf("message %q lacks the request id", e.Error.Message)
	}
}
