package limit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDB is a Store shared by every gateway instance that uses the same
// DynamoDB table: the store for Lambda, whose function URLs cannot stream
// from inside a VPC, where Redis would live. It keeps turn logs (Logs)
// beside the limits. Every change is one conditional UpdateItem on one item,
// so it is atomic without transactions.
//
// The table has a string partition key pk and no sort key; turn on its
// time to live on the attribute expires. The gateway never creates or alters
// the table. Items, each under the key's kind:
//
//	gcra:<key>   tat: GCRA theoretical arrival time, µs since the epoch.
//	slots:<key>  holders: a map of a random token per held slot to the end
//	             of its lease in µs.
//	count:<key>  n: the counter; until: when it ends, in µs.
//	val:<key>    v: a value; until: when it ends, in µs.
//	loghead:<key>
//	             a turn log's head: turn, meta, id (of this Open of it),
//	             size, n (its batches), until, and its flags (ended, cut,
//	             stopped).
//	log:<key>#<id>#<seq>
//	             a batch of a turn log's bytes: d, and at, where it starts
//	             (see dynamodblog.go).
//
// Every item carries expires, in seconds since the epoch, for DynamoDB's
// time to live. That deletion is lazy (it may come days late), so nothing
// here relies on it: every read compares the times above itself, and an
// expired item counts as absent.
//
// Times come from the caller's clock (Now), not the table's: a fleet of
// Lambda instances shares one limit exactly as well as their clocks agree,
// which NTP keeps within milliseconds.
//
// Costs, in round trips to the table (each one write of one item, or one
// strongly consistent read):
//
//   - Allow: one when it admits. When it refuses, or when the item was not
//     in the state this instance last saw (idle or busy), a second: a write
//     that failed its condition returns the item it saw
//     (ReturnValuesOnConditionCheckFailure), and where the table does not
//     (some emulators), one GetItem reads it.
//   - Acquire: one when a slot is free; a refusal reads the item the same
//     way. A pool whose slots were all taken, some by crashed holders, drops
//     those in one more write before it takes one.
//   - Spend: one; a counter past its end is restarted by a second write.
//   - Spent: one read.
//   - Put: one write; Take: one conditional write that returns what it
//     removed.
//   - A held slot: one write every third of its lease, and one to release.
//   - Open, End, Stop: one write of the head; Stopped: one read.
//   - Append: one write per batch item (one per 256 KiB of its data, so
//     one for the appends of a stream) and one of the head. An instance
//     that did not open the log or make its last append, or whose last
//     write of it failed, reads the head first.
//   - Read: one read of the head, and one per batch item it returns bytes
//     of (at most 32, so a log of small appends takes several Reads to
//     return a MiB). A Read from where this instance's last Read of the log
//     did not end (a resume on another instance) first finds the batch
//     holding its position: a read or two for batches of like sizes, at
//     most twice log2 of their number. A reader waiting at the end reads
//     the head every LogPoll.
//
// A DynamoDB is safe for concurrent use. Set its fields before first use.
type DynamoDB struct {
	// Timeout bounds each call to the table; zero means one second. The
	// client's own retryer runs within it.
	Timeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// LogPoll is how often a Read waiting at a turn log's end reads the
	// log's head; zero means 100 ms.
	LogPoll time.Duration

	client *dynamodb.Client
	table  string

	// hints remembers, per rate limit key, the last theoretical arrival
	// time this instance saw, to pick which of GCRA's two writes to try
	// first. A wrong hint costs one more round trip, never accuracy.
	mu    sync.Mutex
	hints map[string]int64
	// marks remembers, per turn log, where this instance's last write or
	// read of it ended (logMark).
	marks map[string]logMark
}

var _ Store = (*DynamoDB)(nil)

// Attribute names. All go through ExpressionAttributeNames, so that none
// can collide with DynamoDB's reserved words.
const (
	attrKey     = "pk"
	attrTAT     = "tat"
	attrHolders = "holders"
	attrCount   = "n"
	attrUntil   = "until"
	attrValue   = "v"
	attrExpires = "expires"
)

const (
	// defaultDynamoDBTimeout bounds one call when Timeout is zero.
	defaultDynamoDBTimeout = time.Second
	// maxHints bounds the GCRA hints; past it they start afresh.
	maxHints = 10_000
	// maxTries bounds the writes one operation makes when others change
	// the same item between its read and its write.
	maxTries = 8
	// expiresMargin keeps an item past the end of what it holds, so that
	// time to live never deletes state a slightly slower clock still uses.
	expiresMargin = time.Minute
)

// ErrContention means a DynamoDB operation lost maxTries races in a row for
// one item. The gateway treats it like any other store error.
var ErrContention = errors.New("limit: dynamodb item changed under every try")

var errNoTable = errors.New("limit: dynamodb client or table is missing")

// NewDynamoDB returns a DynamoDB store on client that keeps its items in
// table. Limit the client's retries (RetryMaxAttempts) so that a throttled
// table fails within Timeout instead of retrying past it.
func NewDynamoDB(client *dynamodb.Client, table string) *DynamoDB {
	return &DynamoDB{client: client, table: table, hints: make(map[string]int64), marks: make(map[string]logMark)}
}

// Allow implements Store. GCRA has two writes: on an idle limit (no arrival
// time, or one already past) SET tat = now + interval; on a busy one SET
// tat = tat + interval on condition that it stays within the tolerance.
// Which one fits depends on the stored time, so Allow tries the one its hint
// names and, when the condition fails, reads the stored time from the
// failure to refuse or to try the other.
func (d *DynamoDB) Allow(ctx context.Context, key string, rate int, per time.Duration, burst int) (bool, time.Duration, error) {
	g, err := newGCRA(rate, per, burst)
	if err != nil {
		return false, 0, err
	}
	if err := d.check(); err != nil {
		return false, 0, err
	}
	pk := "gcra:" + key
	now := d.micros()
	interval, tolerance := micros(g.interval), micros(g.tolerance)
	// A busy limit admits while its arrival time is at most limit.
	limit := now + tolerance - interval
	busy := d.hint(pk) > now
	for range maxTries {
		in := &dynamodb.UpdateItemInput{
			ExpressionAttributeNames: map[string]string{"#tat": attrTAT, "#exp": attrExpires},
			ReturnValues:             types.ReturnValueUpdatedNew,
		}
		if busy {
			in.UpdateExpression = aws.String("SET #tat = #tat + :i, #exp = :exp")
			in.ConditionExpression = aws.String("#tat > :now AND #tat <= :limit")
			in.ExpressionAttributeValues = nums(":i", interval, ":now", now, ":limit", limit, ":exp", expires(now+tolerance))
		} else {
			in.UpdateExpression = aws.String("SET #tat = :next, #exp = :exp")
			in.ConditionExpression = aws.String("attribute_not_exists(#tat) OR #tat <= :now")
			in.ExpressionAttributeValues = nums(":next", now+interval, ":now", now, ":exp", expires(now+interval))
		}
		out, item, err := d.update(ctx, pk, in)
		if err != nil {
			return false, 0, fmt.Errorf("limit: dynamodb allow %q: %w", key, err)
		}
		if out != nil {
			d.setHint(pk, number(out.Attributes, attrTAT))
			return true, 0, nil
		}
		tat := number(item, attrTAT)
		d.setHint(pk, tat)
		switch {
		case tat <= now:
			busy = false
		case tat > limit:
			return false, time.Duration(tat-limit) * time.Microsecond, nil
		default:
			busy = true
		}
	}
	return false, 0, fmt.Errorf("limit: dynamodb allow %q: %w", key, ErrContention)
}

// Acquire implements Store. The pool is one item whose map holds a lease per
// slot; a new slot goes in on condition that the map has fewer than max
// entries, which is what keeps the count exact however many instances ask
// at once. Entries of crashed holders stay in the map until a refusal finds
// them expired and drops them.
func (d *DynamoDB) Acquire(ctx context.Context, key string, max int, lease time.Duration) (func(), bool, error) {
	if err := checkAcquire(max, lease); err != nil {
		return nil, false, err
	}
	if err := d.check(); err != nil {
		return nil, false, err
	}
	pk, token := "slots:"+key, rand.Text()
	names := map[string]string{"#h": attrHolders, "#t": token, "#exp": attrExpires}
	fail := func(err error) (func(), bool, error) {
		return nil, false, fmt.Errorf("limit: dynamodb acquire %q: %w", key, err)
	}
	for range maxTries {
		now := d.micros()
		end := now + micros(lease)
		out, item, err := d.update(ctx, pk, &dynamodb.UpdateItemInput{
			UpdateExpression:          aws.String("SET #h.#t = :end, #exp = :exp"),
			ConditionExpression:       aws.String("size(#h) < :max"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: nums(":end", end, ":max", int64(max), ":exp", expires(end)),
		})
		if err != nil {
			return fail(err)
		}
		if out != nil {
			return d.hold(ctx, pk, token, lease), true, nil
		}
		holders, ok := item[attrHolders].(*types.AttributeValueMemberM)
		if !ok {
			// A new pool: its map is made with the first slot in it.
			out, _, err := d.update(ctx, pk, &dynamodb.UpdateItemInput{
				UpdateExpression:         aws.String("SET #h = :h, #exp = :exp"),
				ConditionExpression:      aws.String("attribute_not_exists(#h)"),
				ExpressionAttributeNames: map[string]string{"#h": attrHolders, "#exp": attrExpires},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":h":   &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{token: num(end)}},
					":exp": num(expires(end)),
				},
			})
			if err != nil {
				return fail(err)
			}
			if out != nil {
				return d.hold(ctx, pk, token, lease), true, nil
			}
			continue
		}
		var expired []string
		for t, v := range holders.Value {
			if n, ok := v.(*types.AttributeValueMemberN); ok && parseNumber(n.Value) <= now {
				expired = append(expired, t)
			}
		}
		if len(holders.Value)-len(expired) >= max {
			return nil, false, nil
		}
		if err := d.dropExpired(ctx, pk, expired, now); err != nil {
			return fail(err)
		}
	}
	return fail(ErrContention)
}

// dropExpired removes the slots whose leases ended before now. A lease
// never comes back once ended (renewal requires it to be running), so the
// condition only guards against an entry being gone or replaced.
func (d *DynamoDB) dropExpired(ctx context.Context, pk string, tokens []string, now int64) error {
	if len(tokens) == 0 {
		return nil
	}
	names := map[string]string{"#h": attrHolders}
	var remove, cond []string
	for i, t := range tokens {
		n := "#t" + strconv.Itoa(i)
		names[n] = t
		remove = append(remove, "#h."+n)
		cond = append(cond, fmt.Sprintf("(attribute_not_exists(#h.%s) OR #h.%s <= :now)", n, n))
	}
	_, _, err := d.update(ctx, pk, &dynamodb.UpdateItemInput{
		UpdateExpression:          aws.String("REMOVE " + strings.Join(remove, ", ")),
		ConditionExpression:       aws.String(strings.Join(cond, " AND ")),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: nums(":now", now),
	})
	return err
}

// hold keeps a slot's lease alive while ctx lives and returns its release.
// A renewal's condition is that the lease is still live, so one that ended
// while its holder could not reach the table is not revived.
func (d *DynamoDB) hold(ctx context.Context, pk, token string, lease time.Duration) func() {
	names := map[string]string{"#h": attrHolders, "#t": token, "#exp": attrExpires}
	return holdLease(ctx, lease, func(ctx context.Context) (bool, error) {
		now := d.micros()
		end := now + micros(lease)
		out, _, err := d.update(ctx, pk, &dynamodb.UpdateItemInput{
			UpdateExpression:          aws.String("SET #h.#t = :end, #exp = :exp"),
			ConditionExpression:       aws.String("#h.#t > :now"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: nums(":end", end, ":now", now, ":exp", expires(end)),
		})
		return out != nil, err
	}, func(ctx context.Context) {
		_, _, _ = d.update(ctx, pk, &dynamodb.UpdateItemInput{
			UpdateExpression:         aws.String("REMOVE #h.#t"),
			ConditionExpression:      aws.String("attribute_exists(#h)"),
			ExpressionAttributeNames: map[string]string{"#h": attrHolders, "#t": token},
		})
	})
}

// Spend implements Store. A live or absent counter takes an atomic ADD that
// sets its end only when it has none; a counter past its end, which time to
// live has not deleted yet, is restarted by a write conditioned on it still
// being past its end.
func (d *DynamoDB) Spend(ctx context.Context, key string, n int64, ttl time.Duration) (int64, error) {
	if err := checkTTL(ttl); err != nil {
		return 0, err
	}
	if err := d.check(); err != nil {
		return 0, err
	}
	pk := "count:" + key
	names := map[string]string{"#n": attrCount, "#u": attrUntil, "#exp": attrExpires}
	for range maxTries {
		now := d.micros()
		until := now + micros(ttl)
		vals := nums(":n", n, ":now", now, ":until", until, ":exp", expires(until))
		out, _, err := d.update(ctx, pk, &dynamodb.UpdateItemInput{
			UpdateExpression:          aws.String("ADD #n :n SET #u = if_not_exists(#u, :until), #exp = if_not_exists(#exp, :exp)"),
			ConditionExpression:       aws.String("attribute_not_exists(#u) OR #u > :now"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: vals,
			ReturnValues:              types.ReturnValueUpdatedNew,
		})
		if err == nil && out == nil {
			out, _, err = d.update(ctx, pk, &dynamodb.UpdateItemInput{
				UpdateExpression:          aws.String("SET #n = :n, #u = :until, #exp = :exp"),
				ConditionExpression:       aws.String("#u <= :now"),
				ExpressionAttributeNames:  names,
				ExpressionAttributeValues: vals,
				ReturnValues:              types.ReturnValueUpdatedNew,
			})
		}
		if err != nil {
			return 0, fmt.Errorf("limit: dynamodb spend %q: %w", key, err)
		}
		if out != nil {
			return number(out.Attributes, attrCount), nil
		}
	}
	return 0, fmt.Errorf("limit: dynamodb spend %q: %w", key, ErrContention)
}

// Spent implements Store.
func (d *DynamoDB) Spent(ctx context.Context, key string) (int64, error) {
	if err := d.check(); err != nil {
		return 0, err
	}
	item, err := d.get(ctx, "count:"+key)
	if err != nil {
		return 0, fmt.Errorf("limit: dynamodb spent %q: %w", key, err)
	}
	if number(item, attrUntil) <= d.micros() {
		return 0, nil
	}
	return number(item, attrCount), nil
}

// Put implements Store: one unconditional write of the whole item.
func (d *DynamoDB) Put(ctx context.Context, key, value string, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	if err := d.check(); err != nil {
		return err
	}
	until := d.micros() + micros(ttl)
	vals := nums(":until", until, ":exp", expires(until))
	vals[":v"] = &types.AttributeValueMemberS{Value: value}
	_, _, err := d.update(ctx, "val:"+key, &dynamodb.UpdateItemInput{
		UpdateExpression:          aws.String("SET #v = :v, #u = :until, #exp = :exp"),
		ExpressionAttributeNames:  map[string]string{"#v": attrValue, "#u": attrUntil, "#exp": attrExpires},
		ExpressionAttributeValues: vals,
	})
	if err != nil {
		return fmt.Errorf("limit: dynamodb put %q: %w", key, err)
	}
	return nil
}

// Take implements Store: one UpdateItem that removes the value on
// condition that it is there and returns the item as it was, so that of
// callers taking one value at once only one sees it. (An update, not a
// DeleteItem, so the store needs no more than GetItem and UpdateItem; the
// emptied item ends by time to live as the value would have.) An expired
// value that time to live has not deleted yet is taken as absent.
func (d *DynamoDB) Take(ctx context.Context, key string) (string, bool, error) {
	if err := d.check(); err != nil {
		return "", false, err
	}
	cctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	out, err := d.client.UpdateItem(cctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(d.table),
		Key:                      map[string]types.AttributeValue{attrKey: &types.AttributeValueMemberS{Value: "val:" + key}},
		UpdateExpression:         aws.String("REMOVE #v, #u"),
		ConditionExpression:      aws.String("attribute_exists(#v)"),
		ExpressionAttributeNames: map[string]string{"#v": attrValue, "#u": attrUntil},
		ReturnValues:             types.ReturnValueAllOld,
	})
	if _, ok := errors.AsType[*types.ConditionalCheckFailedException](err); ok {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("limit: dynamodb take %q: %w", key, err)
	}
	v, ok := out.Attributes[attrValue].(*types.AttributeValueMemberS)
	if !ok || number(out.Attributes, attrUntil) <= d.micros() {
		return "", false, nil
	}
	return v.Value, true, nil
}

// update runs one conditional UpdateItem on the item pk. When the condition
// fails it returns a nil output and the item as it was: from the failure
// itself where the table returns it, else read anew.
func (d *DynamoDB) update(ctx context.Context, pk string, in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, map[string]types.AttributeValue, error) {
	in.TableName = aws.String(d.table)
	in.Key = map[string]types.AttributeValue{attrKey: &types.AttributeValueMemberS{Value: pk}}
	in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	cctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	out, err := d.client.UpdateItem(cctx, in)
	var failed *types.ConditionalCheckFailedException
	if !errors.As(err, &failed) {
		return out, nil, err
	}
	if failed.Item != nil {
		return nil, failed.Item, nil
	}
	item, err := d.get(ctx, pk)
	return nil, item, err
}

// get reads the item pk, strongly consistent; nil when it is absent. A
// read whose connection closed under its response (net.ErrClosed, which
// the SDK's HTTP client sometimes gives: aws/aws-sdk-go-v2#1825, seen here
// on turn logs' large items) is made once more: a read, unlike a write, is
// safe to repeat, and the SDK's retryer takes the error for not retryable.
func (d *DynamoDB) get(ctx context.Context, pk string) (map[string]types.AttributeValue, error) {
	item, err := d.getOnce(ctx, pk)
	if errors.Is(err, net.ErrClosed) && ctx.Err() == nil {
		item, err = d.getOnce(ctx, pk)
	}
	return item, err
}

// getOnce reads the item. A read is not cut short when ctx ends (a
// resumer that went away): it ends within the timeout all the same, and a
// connection dropped mid-request costs a new one (and crashes dynalite).
func (d *DynamoDB) getOnce(ctx context.Context, pk string) (map[string]types.AttributeValue, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.timeout())
	defer cancel()
	out, err := d.client.GetItem(cctx, &dynamodb.GetItemInput{
		TableName:      aws.String(d.table),
		Key:            map[string]types.AttributeValue{attrKey: &types.AttributeValueMemberS{Value: pk}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

func (d *DynamoDB) check() error {
	if d.client == nil || d.table == "" {
		return errNoTable
	}
	return nil
}

func (d *DynamoDB) timeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return defaultDynamoDBTimeout
}

// micros is the time now in µs since the epoch.
func (d *DynamoDB) micros() int64 {
	if d.Now != nil {
		return d.Now().UnixMicro()
	}
	return time.Now().UnixMicro()
}

func (d *DynamoDB) hint(pk string) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.hints[pk]
}

func (d *DynamoDB) setHint(pk string, tat int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.hints) >= maxHints {
		clear(d.hints)
	}
	d.hints[pk] = tat
}

// expires is the time to live, in seconds since the epoch, of an item
// whose state ends at end µs.
func expires(end int64) int64 {
	return (end+micros(expiresMargin))/1_000_000 + 1
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// nums makes expression values of name, value pairs.
func nums(pairs ...any) map[string]types.AttributeValue {
	m := make(map[string]types.AttributeValue, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i].(string)] = num(pairs[i+1].(int64))
	}
	return m
}

// number reads a numeric attribute: 0 when absent or not a whole number.
func number(item map[string]types.AttributeValue, name string) int64 {
	if n, ok := item[name].(*types.AttributeValueMemberN); ok {
		return parseNumber(n.Value)
	}
	return 0
}

func parseNumber(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
