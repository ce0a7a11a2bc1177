// Package limittest starts what the limit stores' tests run against: a
// dynalite (DynamoDB's API on LevelDB) on a free loopback port, and tables
// of the shape the DynamoDB store wants. Other packages' tests use it to
// share limits between gateway instances.
package limittest

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// wait bounds each wait: long enough for node to start on a loaded 2-core
// CI machine, short enough that a hang fails instead of timing out the run.
const wait = 10 * time.Second

// dynaliteBin finds dynalite: internal/limit/testdata/dynalite's copy
// (npm ci there), else one on PATH.
func dynaliteBin() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok {
		p := filepath.Join(filepath.Dir(file), "..", "testdata", "dynalite", "node_modules", ".bin", "dynalite")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return exec.LookPath("dynalite")
}

// Dynalite starts a dynalite (DynamoDB's API on LevelDB, in memory) of its
// own on a free port of 127.0.0.1 for the test, stops it when the test ends,
// and returns its endpoint URL. It runs testdata/dynalite's copy (npm ci
// there) or one on PATH. Without it the test fails, unless
// AGENTGATE_SKIP_DYNAMODB=1 says to skip.
func Dynalite(t testing.TB) string {
	t.Helper()
	bin, err := dynaliteBin()
	if err != nil {
		if os.Getenv("AGENTGATE_SKIP_DYNAMODB") == "1" {
			t.Skip("dynalite is not installed; skipping since AGENTGATE_SKIP_DYNAMODB=1")
		}
		t.Fatal("dynalite is not installed: the DynamoDB store's tests need it " +
			"(cd internal/limit/testdata/dynalite && npm ci); set AGENTGATE_SKIP_DYNAMODB=1 to skip them")
	}
	for range 3 {
		if endpoint, ok := start(t, bin); ok {
			return endpoint
		}
	}
	t.Fatal("dynalite did not start in 3 tries")
	return ""
}

func start(t testing.TB, bin string) (string, bool) {
	t.Helper()
	// dynalite takes a port of 0 for its default, so pick a free one.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	addr := net.JoinHostPort("127.0.0.1", port)

	var out bytes.Buffer // read only once the server has exited
	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", port,
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dynalite: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Logf("dynalite on %s exited:\n%s", addr, out.String())
			return "", false
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("dynalite on %s said:\n%s", addr, out.String())
				}
			})
			return "http://" + addr, true
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	t.Fatalf("dynalite on %s did not listen within %v:\n%s", addr, wait, out.String())
	return "", false
}

// tables numbers the tables of this process.
var tables atomic.Int64

// CreateTable creates a table of the shape the DynamoDB store wants, as
// the deployment does, and returns its name.
func CreateTable(t testing.TB, c *dynamodb.Client) string {
	t.Helper()
	name := "limits-" + strconv.FormatInt(tables.Add(1), 10)
	_, err := c.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	w := dynamodb.NewTableExistsWaiter(c, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 10 * time.Millisecond })
	if err := w.Wait(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)}, wait); err != nil {
		t.Fatalf("table %s not active: %v", name, err)
	}
	return name
}
