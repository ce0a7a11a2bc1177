package limit

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/gomodule/redigo/redis"

	"github.com/agentgate/agentgate/internal/limit/limittest"
	"github.com/agentgate/agentgate/internal/testenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every wait in these tests: long enough for a loaded 2-core
// CI machine, short enough that a hang fails instead of timing out the run.
const wait = 5 * time.Second

// fakeClock moves only when told.
type fakeClock = testenv.Clock

func newClock() *fakeClock { return testenv.NewClock() }

// redisServer starts a redis-server of its own on a free port of 127.0.0.1
// for the test, stops it when the test ends, and returns its address.
// Without redis-server the test skips, or fails under
// AGENTGATE_REQUIRE_ALL=1, so that a CI that lost it does not go green
// quietly.
func redisServer(t testing.TB) string {
	t.Helper()
	testenv.External(t, "redis-server")
	bin, ok := testenv.LookPath("redis-server", "/usr/sbin", "/usr/local/bin")
	if !ok {
		testenv.Missing(t, "redis-server", "apt-get install -y redis-server")
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

// redisStore returns a store with connections of its own to addr, as a
// separate gateway instance would have, closed when the test ends.
func redisStore(t testing.TB, addr, prefix string) *Redis {
	t.Helper()
	s := NewRedis(RedisConfig{Addr: addr, Prefix: prefix})
	t.Cleanup(func() { s.Close() })
	return s
}

// dialRedis returns a connection to addr for a test to look at what a
// store keeps, closed when the test ends.
func dialRedis(t testing.TB, addr string) redis.Conn {
	t.Helper()
	c, err := redis.Dial("tcp", addr, redis.DialConnectTimeout(wait), redis.DialReadTimeout(wait), redis.DialWriteTimeout(wait))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dynalite starts a dynalite for the test and returns its endpoint URL
// (limittest.Dynalite).
func dynalite(t testing.TB) string {
	t.Helper()
	return limittest.Dynalite(t)
}

// roundTrips counts the HTTP requests a DynamoDB client makes, and adds
// delay to each, as the network to a table in the same region would.
type roundTrips struct {
	n     atomic.Int64
	delay time.Duration
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
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
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

// dynamoTable creates a table of the shape the DynamoDB store wants
// (limittest.CreateTable) and returns its name.
func dynamoTable(t testing.TB, c *dynamodb.Client) string {
	t.Helper()
	return limittest.CreateTable(t, c)
}
