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
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/testenv"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// wait bounds each wait: long enough for node to start on a loaded 2-core
// CI machine, short enough that a hang fails instead of timing out the run.
const wait = 10 * time.Second

// dynaliteDir is internal/limit/testdata/dynalite, where package.json and
// its lock file pin dynalite.
func dynaliteDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "dynalite")
}

var npmOnce sync.Once

// dynaliteBin finds dynalite: testdata/dynalite's copy, installed there
// with npm ci from the committed lock file when node is present, else one
// on PATH.
func dynaliteBin(t testing.TB) (string, bool) {
	local := filepath.Join(dynaliteDir(), "node_modules", ".bin", "dynalite")
	if _, err := os.Stat(local); err != nil {
		if _, err := exec.LookPath("npm"); err == nil {
			npmOnce.Do(func() {
				cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--silent")
				cmd.Dir = dynaliteDir()
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Logf("npm ci in %s: %v\n%s", cmd.Dir, err, out)
				}
			})
		}
	}
	if _, err := os.Stat(local); err == nil {
		return local, true
	}
	return testenv.LookPath("dynalite")
}

// Dynalite starts a dynalite (DynamoDB's API on LevelDB, in memory) of its
// own on a free port of 127.0.0.1 for the test, stops it when the test ends,
// and returns its endpoint URL. It runs testdata/dynalite's copy (npm ci
// there, which it runs itself when node is present) or one on PATH.
// Without it the test skips, or fails under AGENTGATE_REQUIRE_ALL=1.
func Dynalite(t testing.TB) string {
	t.Helper()
	testenv.External(t, "dynalite")
	bin, ok := dynaliteBin(t)
	if !ok {
		testenv.Missing(t, "dynalite", "node and npm, then: cd internal/limit/testdata/dynalite && npm ci")
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

// SetAWSEnv sets, for the test, the environment the AWS SDK's default
// configuration reads, so that a gateway reaching a local stand-in (its
// endpoint set apart) signs with test credentials in us-east-1 and never
// asks an instance metadata service.
func SetAWSEnv(t testing.TB) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// Table starts dynalite for the test, creates a limits table in it, and
// sets the AWS environment (SetAWSEnv), so that a gateway configured with
// limits.store dynamodb, the table and the endpoint keeps its state there.
func Table(t testing.TB) (endpoint, table string) {
	t.Helper()
	endpoint = Dynalite(t)
	SetAWSEnv(t)
	c := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	return endpoint, CreateTable(t, c)
}
