// Package secretstest starts what tests of the gateway's secrets run
// against: a Secrets Manager stand-in (secretslocal) on a loopback port,
// with the AWS SDK's default credentials pointed at its key pair, and a way
// to rotate the gateway's secret and wait until the gateway has read it.
package secretstest

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/secretslocal"
)

// Region is the stand-in's region, the one its ARNs name.
const Region = "eu-west-1"

// The key pair the SDK signs with: set in the environment by Start.
const (
	accessKeyID     = "AKIDSECRETSTEST00000"
	secretAccessKey = "c2VjcmV0c3Rlc3Qta2V5LXBhaXItMDAwMDAwMDA"
)

// Fixture is a running stand-in holding one gateway secret.
type Fixture struct {
	*secretslocal.Server
	// URL is the stand-in's base URL: secrets.endpoint.
	URL string
	// Name and ARN are the gateway secret's.
	Name, ARN string
}

// Start serves a stand-in on loopback until the test ends, holding values
// as the secret Name, and sets the AWS_* variables the SDK's default chain
// reads to its key pair (so the test cannot run in parallel).
func Start(t testing.TB, values config.SecretValues) *Fixture {
	t.Helper()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": accessKeyID, "AWS_SECRET_ACCESS_KEY": secretAccessKey, "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	sm, err := secretslocal.New(secretslocal.Config{Region: Region, AccessKeyID: accessKeyID, SecretAccessKey: secretAccessKey})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sm)
	t.Cleanup(srv.Close)
	f := &Fixture{Server: sm, URL: srv.URL, Name: "agentgate/gateway"}
	f.ARN = f.Put(t, values)
	return f
}

// Config is the secrets section that reads the fixture's secret every
// refresh.
func (f *Fixture) Config(refresh time.Duration) config.Secrets {
	return config.Secrets{ARN: f.ARN, Endpoint: f.URL, Refresh: refresh, Timeout: 2 * time.Second}
}

// Put stores values as the secret's new current version and returns its
// ARN.
func (f *Fixture) Put(t testing.TB, values config.SecretValues) string {
	t.Helper()
	b, err := json.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	return f.Server.Put(f.Name, string(b))
}

// Rotate puts values and waits until the secret has been read twice since:
// a gateway that reads it on a schedule, one read after the other, has then
// finished the read that saw them, and swapped its gateway if they made
// one.
func (f *Fixture) Rotate(t testing.TB, values config.SecretValues) {
	t.Helper()
	f.Put(t, values)
	f.WaitForReads(t, f.Calls()+2)
}

// WaitForReads waits, a few seconds at most, until the stand-in has
// answered n reads in all.
func (f *Fixture) WaitForReads(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for f.Calls() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the secret was read %d times, want %d: does the gateway refresh it?", f.Calls(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
