package agent

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewNamesTheBadField(t *testing.T) {
	ok := &echo{}
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none: valid
	}{
		{"a config with only a provider is valid", Config{Provider: ok}, nil},
		{"a config without a provider is refused", Config{}, []string{"Config.Provider is required"}},
		{"a negative MaxMessages is refused", Config{Provider: ok, MaxMessages: -1}, []string{"Config.MaxMessages is -1"}},
		{"a MaxMessages of one cannot hold an exchange", Config{Provider: ok, MaxMessages: 1}, []string{"Config.MaxMessages is 1"}},
		{"a negative IdleTimeout is refused", Config{Provider: ok, IdleTimeout: -time.Second}, []string{"Config.IdleTimeout is -1s"}},
		{"a negative MaxSessions is refused", Config{Provider: ok, MaxSessions: -2}, []string{"Config.MaxSessions is -2"}},
		{"a negative MaxBodyBytes is refused", Config{Provider: ok, MaxBodyBytes: -3}, []string{"Config.MaxBodyBytes is -3"}},
		{"every bad field is named at once", Config{MaxSessions: -1, MaxBodyBytes: -1}, []string{"Config.Provider", "Config.MaxSessions", "Config.MaxBodyBytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg)
			if len(tt.want) == 0 {
				if err != nil || s == nil {
					t.Fatalf("New = %v, %v; want a server", s, err)
				}
				return
			}
			if err == nil {
				t.Fatal("New succeeded; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func TestNewAppliesTheDefaults(t *testing.T) {
	s, err := New(Config{Provider: &echo{}})
	if err != nil {
		t.Fatal(err)
	}
	c := s.cfg
	if c.MaxMessages != 40 || c.IdleTimeout != 15*time.Minute || c.MaxSessions != 10000 || c.MaxBodyBytes != 1<<20 || c.Logger == nil || c.Now == nil {
		t.Errorf("defaults = %+v", c)
	}
}

func TestPingReportsBusyWhileAnInvocationStreams(t *testing.T) {
	clock := newClock()
	p := newGated("done")
	f := serve(t, Config{Provider: p, Now: clock.Now})
	start := clock.Now().Unix()

	ping := func(t *testing.T) pingResponse {
		t.Helper()
		resp, err := f.srv.Client().Get(f.srv.URL + "/ping")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("ping: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var got pingResponse
		if err := jsonDecode(resp.Body, &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := func(t *testing.T, got pingResponse, status string, updated int64) {
		t.Helper()
		if got.Status != status || got.TimeOfLastUpdate != updated {
			t.Errorf("ping = %+v, want %s since %d", got, status, updated)
		}
	}

	t.Run("an idle server is Healthy since it started", func(t *testing.T) {
		clock.Advance(time.Minute)
		want(t, ping(t), statusHealthy, start)
	})
	clock.Advance(time.Minute)
	busySince := clock.Now().Unix()
	resp := f.post(t, t.Context(), "", promptBody("work"))
	evs := events(t, resp.Body)
	next(t, evs)
	t.Run("a streaming invocation makes it HealthyBusy since the stream began", func(t *testing.T) {
		clock.Advance(time.Minute)
		want(t, ping(t), statusBusy, busySince)
	})
	clock.Advance(time.Minute)
	idleSince := clock.Now().Unix()
	p.open(t)
	for range 4 {
		next(t, evs)
	}
	end(t, evs)
	t.Run("the end of the stream makes it Healthy again since then", func(t *testing.T) {
		clock.Advance(time.Minute)
		want(t, ping(t), statusHealthy, idleSince)
	})
}
