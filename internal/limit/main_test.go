package limit

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every wait in these tests: long enough for a loaded 2-core
// CI machine, short enough that a hang fails instead of timing out the run.
const wait = 5 * time.Second

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// redisServer starts a redis-server of its own on a free port of 127.0.0.1
// for the test, stops it when the test ends, and returns its address.
// Without redis-server the test fails, so that a CI that lost it does not go
// green quietly, unless AGENTGATE_SKIP_REDIS=1 says to skip.
func redisServer(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("AGENTGATE_SKIP_REDIS") == "1" {
			t.Skip("redis-server is not installed; skipping since AGENTGATE_SKIP_REDIS=1")
		}
		t.Fatal("redis-server is not installed: the Redis store's tests need it " +
			"(Debian: apt-get install -y redis-server); set AGENTGATE_SKIP_REDIS=1 to skip them")
	}
	// Another process may take the free port before the server does.
	for range 3 {
		if addr, ok := startRedis(t, bin); ok {
			return addr
		}
	}
	t.Fatal("redis-server did not start in 3 tries")
	return ""
}

func startRedis(t testing.TB, bin string) (string, bool) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	addr := net.JoinHostPort("127.0.0.1", port)

	var out bytes.Buffer // read only once the server has exited
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", t.TempDir())
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
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
			t.Logf("redis-server on %s exited:\n%s", addr, out.String())
			return "", false
		default:
		}
		if ping(addr) {
			t.Cleanup(stop)
			return addr, true
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	t.Fatalf("redis-server on %s did not answer PING within %v:\n%s", addr, wait, out.String())
	return "", false
}

func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

// redisClient returns a client of its own to addr, as a separate gateway
// instance would have, closed when the test ends.
func redisClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// dynalite starts a dynalite (DynamoDB's API on LevelDB, in memory) of its
// own on a free port of 127.0.0.1 for the test, stops it when the test ends,
// and returns its endpoint URL. It runs testdata/dynalite's copy (npm ci
// there) or one on PATH. Without it the test fails, unless
// AGENTGATE_SKIP_DYNAMODB=1 says to skip.
func dynalite(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath(filepath.Join("testdata", "dynalite", "node_modules", ".bin", "dynalite"))
	if err != nil {
		bin, err = exec.LookPath("dynalite")
	}
	if err != nil {
		if os.Getenv("AGENTGATE_SKIP_DYNAMODB") == "1" {
			t.Skip("dynalite is not installed; skipping since AGENTGATE_SKIP_DYNAMODB=1")
		}
		t.Fatal("dynalite is not installed: the DynamoDB store's tests need it " +
			"(cd internal/limit/testdata/dynalite && npm ci); set AGENTGATE_SKIP_DYNAMODB=1 to skip them")
	}
	for range 3 {
		if endpoint, ok := startDynalite(t, bin); ok {
			return endpoint
		}
	}
	t.Fatal("dynalite did not start in 3 tries")
	return ""
}

func startDynalite(t testing.TB, bin string) (string, bool) {
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
	deadline := time.Now().Add(2 * wait) // node starts slower than redis-server
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
	t.Fatalf("dynalite on %s did not listen within %v:\n%s", addr, 2*wait, out.String())
	return "", false
}

// roundTrips counts the HTTP requests a DynamoDB client makes.
type roundTrips struct {
	n atomic.Int64
}

// load reads the count; 0 for no counter.
func (c *roundTrips) load() int64 {
	if c == nil {
		return 0
	}
	return c.n.Load()
}

func (c *roundTrips) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// dynamoClient returns a client of its own to endpoint, as a separate
// gateway instance would have, and the counter of its round trips.
func dynamoClient(t testing.TB, endpoint string) (*dynamodb.Client, *roundTrips) {
	t.Helper()
	rt := &roundTrips{}
	hc := &http.Client{Transport: rt}
	t.Cleanup(hc.CloseIdleConnections)
	return dynamodb.New(dynamodb.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:       hc,
		RetryMaxAttempts: 1,
	}), rt
}

var tables atomic.Int64

// dynamoTable creates a table of the shape the DynamoDB store wants, as
// the deployment does, and returns its name.
func dynamoTable(t testing.TB, c *dynamodb.Client) string {
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
