package limit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestDynamoDBSharedAcrossInstances runs two Limiters, each with a DynamoDB
// client of its own as two gateway instances (two Lambda instances) would
// have, on one table.
func TestDynamoDBSharedAcrossInstances(t *testing.T) {
	endpoint := dynalite(t)
	testSharedAcrossInstances(t, func(t *testing.T) [2]Store {
		a, _ := dynamoClient(t, endpoint)
		b, _ := dynamoClient(t, endpoint)
		table := dynamoTable(t, a)
		return [2]Store{NewDynamoDB(a, table), NewDynamoDB(b, table)}
	})
}

// TestDynamoDBFakeClock runs the suite's timing tests on a clock that moves
// only when told: the DynamoDB store takes its time from the caller, so
// GCRA's waits and a counter's end are exact, not merely within tolerance.
func TestDynamoDBFakeClock(t *testing.T) {
	endpoint := dynalite(t)
	for name, test := range map[string]func(*testing.T, harness){
		"a burst passes at once and the next request waits one interval": testBurst,
		"a counter expires ttl after its first spend":                    testSpendTTL,
		"each key is limited apart":                                      testKeysApart,
		"a value expires ttl after its put":                              testValueTTL,
	} {
		t.Run(name, func(t *testing.T) {
			c, _ := dynamoClient(t, endpoint)
			clock := newClock()
			s := NewDynamoDB(c, dynamoTable(t, c))
			s.Now = clock.Now
			test(t, harness{store: s, advance: clock.Advance, exact: true})
		})
	}
}

// TestDynamoDBItems checks the data design: one item per kind and key, each
// with a time to live a little past the state it holds, and a released slot
// gone from its pool.
func TestDynamoDBItems(t *testing.T) {
	ctx := t.Context()
	c, _ := dynamoClient(t, dynalite(t))
	table := dynamoTable(t, c)
	s := NewDynamoDB(c, table)
	if _, _, err := s.Allow(ctx, "k", 1, time.Minute, 1); err != nil {
		t.Fatal(err)
	}
	release, _, err := s.Acquire(ctx, "k", 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Spend(ctx, "k", 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "k", "v", 15*time.Minute); err != nil {
		t.Fatal(err)
	}
	get := func(pk string) map[string]types.AttributeValue {
		out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table),
			Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Item
	}
	now := time.Now()
	for pk, state := range map[string]time.Duration{"gcra:k": time.Minute, "slots:k": time.Minute, "count:k": time.Hour, "val:k": 15 * time.Minute} {
		exp := time.Unix(number(get(pk), "expires"), 0)
		if exp.Before(now.Add(state)) || exp.After(now.Add(state+expiresMargin+2*time.Second)) {
			t.Errorf("%s expires at %v, want %v past now plus up to %v", pk, exp.Sub(now), state, expiresMargin)
		}
	}
	release()
	if h, ok := get("slots:k")["holders"].(*types.AttributeValueMemberM); !ok || len(h.Value) != 0 {
		t.Errorf("holders after release = %v, want an empty map", get("slots:k")["holders"])
	}
	exp := get("val:k")["expires"]
	if _, found, err := s.Take(ctx, "k"); !found || err != nil {
		t.Errorf("Take = %v, %v; want the value taken", found, err)
	}
	// What is left ends by time to live, as the value would have.
	if left := get("val:k"); len(left) != 2 || !reflect.DeepEqual(left["expires"], exp) {
		t.Errorf("after Take the item is %v, want its key and expires %v only", left, exp)
	}
	if _, found, err := s.Take(ctx, "absent"); found || err != nil || get("val:absent") != nil {
		t.Errorf("Take of no value = %v, %v, and made the item %v; want none found and no item", found, err, get("val:absent"))
	}
}

// TestDynamoDBValueRoundTrips: a Put is one call to the table, and so is a
// Take, whether it finds the value or not.
func TestDynamoDBValueRoundTrips(t *testing.T) {
	c, rt := dynamoClient(t, dynalite(t))
	s := NewDynamoDB(c, dynamoTable(t, c))
	for _, step := range []struct {
		name string
		call func() error
	}{
		{"Put", func() error { return s.Put(t.Context(), "k", "v", time.Minute) }},
		{"Take of a value", func() error { _, _, err := s.Take(t.Context(), "k"); return err }},
		{"Take of none", func() error { _, _, err := s.Take(t.Context(), "k"); return err }},
	} {
		before := rt.n.Load()
		if err := step.call(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if n := rt.n.Load() - before; n != 1 {
			t.Errorf("%s took %d round trips, want 1", step.name, n)
		}
	}
}

// TestDynamoDBRoundTrips measures what the gateway's admission costs in
// calls to the table, and what a refusal costs.
func TestDynamoDBRoundTrips(t *testing.T) {
	c, rt := dynamoClient(t, dynalite(t))
	s := NewDynamoDB(c, dynamoTable(t, c))
	count := func(t *testing.T, fn func()) int64 {
		before := rt.n.Load()
		fn()
		return rt.n.Load() - before
	}
	for _, tc := range []struct {
		name   string
		policy Policy
		// want is the round trips of an admission after the first (which
		// may create items), then of a refusal.
		want, refusal int64
	}{
		{"a principal rate limit", Policy{Rate: map[string]Rule{ScopePrincipal: {Rate: 3, Per: time.Hour}}}, 1, 2},
		{"a stream cap", Policy{Concurrency: map[string]int{ScopeGlobal: 3}}, 1, 2},
		{"a rate limit and a stream cap", Policy{Rate: map[string]Rule{ScopePrincipal: {Rate: 3, Per: time.Hour}},
			Concurrency: map[string]int{ScopeGlobal: 3}}, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewDynamoDB(c, s.table)
			l, err := NewLimiter(s, tc.policy, nil)
			if err != nil {
				t.Fatal(err)
			}
			principal := t.Name()
			var releases []func()
			defer func() {
				for _, r := range releases {
					r()
				}
			}()
			for i := range 3 {
				n := count(t, func() {
					a, err := l.Admit(t.Context(), "demo", principal, 0)
					if err != nil {
						t.Fatalf("admission %d: %v", i+1, err)
					}
					releases = append(releases, a.Release)
				})
				t.Logf("admission %d: %d round trips", i+1, n)
				if i > 0 && n != tc.want {
					t.Errorf("admission %d took %d round trips, want %d", i+1, n, tc.want)
				}
			}
			n := count(t, func() {
				if _, err := l.Admit(t.Context(), "demo", principal, 0); err == nil {
					t.Fatal("a fourth admission at 3")
				}
			})
			t.Logf("refusal: %d round trips", n)
			if n != tc.refusal {
				t.Errorf("refusal took %d round trips, want %d", n, tc.refusal)
			}
		})
	}
}

// TestDynamoDBDown checks that a table the gateway cannot reach, or one that
// never answers, gives errors the gateway can fail open or closed on, never
// a refusal, a panic or a hang.
func TestDynamoDBDown(t *testing.T) {
	ctx := t.Context()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close() // nothing listens there now

	// A peer that accepts connections and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()

	unreachable, _ := dynamoClient(t, closed)
	hanging, _ := dynamoClient(t, "http://"+silent.Addr().String())
	stores := map[string]*DynamoDB{
		"unreachable": NewDynamoDB(unreachable, "limits"),
		"silent":      NewDynamoDB(hanging, "limits"),
		"nil client":  NewDynamoDB(nil, "limits"),
		"no table":    NewDynamoDB(unreachable, ""),
	}
	for name, s := range stores {
		t.Run(name, func(t *testing.T) {
			s.Timeout = 100 * time.Millisecond
			began := time.Now()
			if _, _, err := s.Allow(ctx, "k", 1, time.Second, 1); err == nil {
				t.Error("Allow: no error")
			}
			if _, _, err := s.Acquire(ctx, "k", 1, time.Second); err == nil {
				t.Error("Acquire: no error")
			}
			if _, err := s.Spend(ctx, "k", 1, time.Second); err == nil {
				t.Error("Spend: no error")
			}
			if _, err := s.Spent(ctx, "k"); err == nil {
				t.Error("Spent: no error")
			}
			lim, err := NewLimiter(s, Policy{Rate: map[string]Rule{ScopeGlobal: {Rate: 1, Per: time.Second}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var r *Refusal
			if _, err := admitFn(lim, ctx, "demo", "alice"); err == nil || errors.As(err, &r) {
				t.Errorf("Admit = %v, want a store error", err)
			}
			// Five calls of at most 100 ms each.
			if took := time.Since(began); took > 2*time.Second {
				t.Errorf("five calls took %v with a timeout of 100 ms each", took)
			}
		})
	}
	t.Run("a caller's deadline ends a call sooner", func(t *testing.T) {
		s := NewDynamoDB(hanging, "limits")
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if _, _, err := s.Allow(cctx, "k", 1, time.Second, 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Allow = %v, want the deadline", err)
		}
	})
}

// BenchmarkAdmit reports one admission's latency per store, on loopback for
// Redis and DynamoDB (dynalite), under two policies: a principal rate limit
// and a stream cap, and every limit there is (three rate limits, three
// caps and a budget), the iterations spread over 100 principals; the
// release is not timed. For DynamoDB it also reports the calls to the table
// per admission, which go in two rounds of concurrent calls, and runs again
// with 3 ms added to each call, where the rounds show.
func BenchmarkAdmit(b *testing.B) {
	var trips *roundTrips
	stores := []struct {
		name string
		open func(b *testing.B) Store
	}{
		{"memory", func(*testing.B) Store { return NewMemory(nil) }},
		{"redis", func(b *testing.B) Store { return redisStore(b, redisServer(b), "") }},
		{"dynamodb", func(b *testing.B) Store {
			c, rt := dynamoClient(b, dynalite(b))
			trips = rt
			return NewDynamoDB(c, dynamoTable(b, c))
		}},
		// A table 3 ms away, as one in the same region is.
		{"dynamodb+3ms", func(b *testing.B) Store {
			c, rt := dynamoClient(b, dynalite(b))
			rt.delay, trips = 3*time.Millisecond, rt
			return NewDynamoDB(c, dynamoTable(b, c))
		}},
	}
	const many = 1_000_000
	policies := []struct {
		name   string
		policy Policy
	}{
		{"rate+cap", Policy{Rate: map[string]Rule{ScopePrincipal: {Rate: many, Per: time.Minute}},
			Concurrency: map[string]int{ScopeGlobal: 100}}},
		{"every-limit", Policy{
			Rate:        map[string]Rule{ScopePrincipal: {Rate: many, Per: time.Minute}, ScopeAgent: {Rate: many, Per: time.Minute}, ScopeGlobal: {Rate: many, Per: time.Minute}},
			Concurrency: map[string]int{ScopePrincipal: 100, ScopeAgent: 100, ScopeGlobal: 100},
			DailyTokens: many, BudgetReservation: 1}},
	}
	for _, st := range stores {
		for _, p := range policies {
			b.Run(st.name+"/"+p.name, func(b *testing.B) {
				trips = nil
				l, err := NewLimiter(st.open(b), p.policy, nil)
				if err != nil {
					b.Fatal(err)
				}
				var before int64
				if trips != nil {
					before = trips.n.Load()
				}
				var released int64
				i := 0
				for b.Loop() {
					i++
					a, err := l.Admit(b.Context(), "demo", "p"+strconv.Itoa(i%100), 0)
					if err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					n := trips.load()
					a.Release()
					released += trips.load() - n
					b.StartTimer()
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
				if trips != nil {
					b.ReportMetric(float64(trips.n.Load()-before-released)/float64(b.N), "calls/op")
				}
			})
		}
	}
}

// TestDynamoDBLogItems checks the data design of a turn log: a head, and a
// batch item per maxLogBatch bytes of an append, each well within
// DynamoDB's 400 KB, each with a time to live.
func TestDynamoDBLogItems(t *testing.T) {
	ctx := t.Context()
	c, _ := dynamoClient(t, dynalite(t))
	table := dynamoTable(t, c)
	s := NewDynamoDB(c, table)
	if err := s.Open(ctx, "k", "t1", "m", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, "k", "t1", 0, make([]byte, 600<<10), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.End(ctx, "k", "t1", 600<<10, true, time.Hour); err != nil {
		t.Fatal(err)
	}
	get := func(pk string) map[string]types.AttributeValue {
		out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table),
			Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Item
	}
	now := time.Now()
	head := get("loghead:k")
	if text(head, "turn") != "t1" || text(head, "meta") != "m" || number(head, "size") != 600<<10 || number(head, "n") != 3 ||
		!flag(head, "ended") || !flag(head, "cut") {
		t.Errorf("the head = %v, want turn t1, meta m, 614400 bytes in 3 batches, ended and cut", head)
	}
	if exp := time.Unix(number(head, "expires"), 0); exp.Before(now.Add(time.Hour)) || exp.After(now.Add(time.Hour+expiresMargin+2*time.Second)) {
		t.Errorf("the head expires at %v, want the retention, an hour, past now plus up to %v", exp.Sub(now), expiresMargin)
	}
	id := text(head, "id")
	for seq, at := range []int64{0, 256 << 10, 512 << 10} {
		b := get(logBatchKey("k", id, int64(seq)))
		d, _ := b["d"].(*types.AttributeValueMemberB)
		if d == nil || len(d.Value) > maxLogBatch || number(b, "at") != at {
			t.Errorf("batch %d = %v, want one of at most %d bytes at %d", seq, b, maxLogBatch, at)
		}
		if exp := time.Unix(number(b, "expires"), 0); exp.Before(now.Add(logBatchLife)) {
			t.Errorf("batch %d expires at %v, want at least %v past now", seq, exp.Sub(now), logBatchLife)
		}
	}
}

// TestDynamoDBLogRoundTrips measures what a turn log costs in calls to the
// table: the writer's, a reader's on another instance, and a resume's.
func TestDynamoDBLogRoundTrips(t *testing.T) {
	endpoint := dynalite(t)
	wc, wrt := dynamoClient(t, endpoint)
	rc, rrt := dynamoClient(t, endpoint)
	table := dynamoTable(t, wc)
	w, r := NewDynamoDB(wc, table), NewDynamoDB(rc, table)
	ctx := t.Context()
	var at int64
	appendN := func(n int) func() error {
		return func() error {
			err := w.Append(ctx, "k", "t1", at, bytes.Repeat([]byte("x"), n), time.Minute)
			at += int64(n)
			return err
		}
	}
	read := func(from int64, want int) func() error {
		return func() error {
			lr, err := r.Read(ctx, "k", from, 0)
			if err == nil && len(lr.Data) != want {
				err = fmt.Errorf("read %d bytes, want %d", len(lr.Data), want)
			}
			return err
		}
	}
	for _, step := range []struct {
		name  string
		trips *roundTrips
		want  int64
		call  func() error
	}{
		{"Open", wrt, 1, func() error { return w.Open(ctx, "k", "t1", "", time.Minute) }},
		{"an Append of one batch", wrt, 2, appendN(100)},
		{"a read from the start, of one batch", rrt, 2, read(0, 100)},
		{"an Append of 600 KiB", wrt, 4, appendN(600 << 10)},
		{"the next read, of 600 KiB in 3 batches", rrt, 4, read(100, 600<<10)},
		{"a read at the end", rrt, 1, read(100+600<<10, 0)},
		{"Stop, on the reader's instance", rrt, 1, func() error { return r.Stop(ctx, "k", "t1") }},
		{"Stopped", wrt, 1, func() error { _, err := w.Stopped(ctx, "k", "t1"); return err }},
		{"End", wrt, 1, func() error { return w.End(ctx, "k", "t1", at, false, time.Minute) }},
	} {
		before := step.trips.load()
		if err := step.call(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if n := step.trips.load() - before; n != step.want {
			t.Errorf("%s took %d round trips, want %d", step.name, n, step.want)
		}
	}

	// A resume in a log of 1000 batches of like sizes, on an instance that
	// has not read it, finds its batch in a read or two.
	if err := w.Open(ctx, "k", "t2", "", time.Minute); err != nil {
		t.Fatal(err)
	}
	at = 0
	for i := range 1000 {
		n := 90 + i%20
		if err := w.Append(ctx, "k", "t2", at, bytes.Repeat([]byte("y"), n), time.Minute); err != nil {
			t.Fatal(err)
		}
		at += int64(n)
	}
	for _, from := range []int64{at / 2, at - 5, 17, at / 3} {
		fresh := NewDynamoDB(rc, table)
		before := rrt.load()
		lr, err := fresh.Read(ctx, "k", from, 0)
		if err != nil || len(lr.Data) == 0 || len(lr.Data) > int(at-from) {
			t.Fatalf("a resume from %d: %d bytes, %v", from, len(lr.Data), err)
		}
		n := rrt.load() - before
		t.Logf("a resume from %d of %d: %d round trips for %d bytes", from, at, n, len(lr.Data))
		// The head, the batches read (at most maxLogReadBatches), and at
		// most two reads that missed the position's batch.
		if n > 1+maxLogReadBatches+2 {
			t.Errorf("a resume from %d took %d round trips", from, n)
		}
	}
}

// cutOnce answers every request with a counter's item, but cuts the body of
// its first answer short with net.ErrClosed, as the SDK's HTTP client
// sometimes does (aws/aws-sdk-go-v2#1825).
type cutOnce struct{ n atomic.Int64 }

func (c *cutOnce) RoundTrip(r *http.Request) (*http.Response, error) {
	body := io.Reader(strings.NewReader(`{"Item":{"pk":{"S":"count:k"},"n":{"N":"7"},"until":{"N":"99999999999999999"}}}`))
	if c.n.Add(1) == 1 {
		body = io.MultiReader(strings.NewReader(`{"Item":{"pk"`), iotest.ErrReader(&net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}))
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
		Body: io.NopCloser(body), Request: r}, nil
}

// TestDynamoDBReadRepeatedOnClosedConnection: a read whose connection
// closed under its response is made once more; it is safe to repeat.
func TestDynamoDBReadRepeatedOnClosedConnection(t *testing.T) {
	rt := &cutOnce{}
	c := dynamodb.New(dynamodb.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String("http://127.0.0.1:1"),
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:       &http.Client{Transport: rt},
		RetryMaxAttempts: 1,
	})
	n, err := NewDynamoDB(c, "limits").Spent(t.Context(), "k")
	if err != nil || n != 7 || rt.n.Load() != 2 {
		t.Fatalf("Spent = %d, %v after %d calls; want 7 after 2", n, err, rt.n.Load())
	}
}
