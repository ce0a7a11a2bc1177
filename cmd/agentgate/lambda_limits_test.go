//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/limit/limittest"
	"github.com/agentgate/agentgate/internal/stack"
)

// TestLambdaBootstrapsShareAStreamCapInDynamoDB runs two real bootstraps,
// each under an emulator of its own as two Lambda instances are, configured
// by their environment only to keep limits in one DynamoDB table (dynalite)
// with a cap of one stream: while the first streams, the second refuses
// with 429, and once it ends the second admits.
func TestLambdaBootstrapsShareAStreamCapInDynamoDB(t *testing.T) {
	rie := findRIE(t)
	endpoint := limittest.Dynalite(t)
	db := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	table := limittest.CreateTable(t, db)
	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrap, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building bootstrap: %v\n%s", err, out)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cfg := config.Default()
	// About three seconds a stream: the first still runs when the second
	// comes.
	cfg.Agent.Builtin.Delay = 150 * time.Millisecond
	l, err := stack.StartLocal(ctx, cfg, stack.LocalOptions{Listen: "127.0.0.1:0"})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := l.Wait(); err != nil {
			t.Errorf("local servers: %v", err)
		}
	})
	env := []string{
		"AWS_LAMBDA_FUNCTION_NAME=agentgate",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=60",
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=" + l.Config.AWS.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + l.Config.AWS.SecretAccessKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"AGENTGATE_UPSTREAM_ARN=" + l.ARN,
		"AGENTGATE_UPSTREAM_ENDPOINT=" + l.EmulatorURL,
		"AGENTGATE_AUTH_NONE=true",
		"AGENTGATE_SESSION_KEY=" + strings.Repeat("k", 32),
		"AGENTGATE_LIMIT_STORE=dynamodb",
		"AGENTGATE_DYNAMODB_TABLE=" + table,
		"AGENTGATE_DYNAMODB_ENDPOINT=" + endpoint,
		"AGENTGATE_MAX_STREAMS=1",
	}
	first, _ := startRIE(t, rie, bootstrap, env)
	second, _ := startRIE(t, rie, bootstrap, env)

	// The emulator hands the client the response only as a whole, so the
	// first stream runs in the background, and the table says when it
	// holds its slot.
	firstDone := make(chan int, 1)
	go func() {
		status, _ := invoke(t, first)
		firstDone <- status
	}()
	for deadline := time.Now().Add(10 * time.Second); holders(t, db, table) != 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first stream took no slot in the table")
		}
	}
	if status, body := invoke(t, second); status != http.StatusTooManyRequests || !bytes.Contains(body, []byte(`"too_many_streams"`)) {
		t.Fatalf("the second instance, while the first streams: status %d, %q; want 429 too_many_streams", status, body)
	}
	if status := <-firstDone; status != http.StatusOK {
		t.Fatalf("the first stream: status %d, want 200", status)
	}
	if status, body := invoke(t, second); status != http.StatusOK {
		t.Fatalf("the second instance after the first stream ended: status %d, %q; want 200", status, body)
	}
}

// holders counts the slots held in the global stream cap's item.
func holders(t *testing.T, db *dynamodb.Client, table string) int {
	out, err := db.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(table),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "slots:global"}}})
	if err != nil {
		t.Error(err)
		return 0
	}
	m, _ := out.Item["holders"].(*types.AttributeValueMemberM)
	if m == nil {
		return 0
	}
	return len(m.Value)
}

// invoke sends a POST / function URL event to the emulator at addr, and
// returns the status from the response's prelude and the body after it.
func invoke(t *testing.T, addr string) (int, []byte) {
	event := functionURLEvent(t, "POST", "/", `{"prompt":"hello there, how are you today?","response":"transformed"}`)
	resp, err := http.Post("http://"+addr+"/2015-03-31/functions/function/invocations", "application/json", bytes.NewReader(event))
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	head, body, ok := bytes.Cut(raw, make([]byte, 8))
	var p struct {
		StatusCode int `json:"statusCode"`
	}
	if err != nil || !ok || json.Unmarshal(head, &p) != nil {
		t.Errorf("no prelude, 8 NUL bytes and a body (%v): %q", err, raw)
	}
	return p.StatusCode, body
}
