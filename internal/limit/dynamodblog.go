package limit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A turn log in DynamoDB is a head item and an item per batch of bytes
// appended:
//
//	loghead:<key>         turn, meta; id, a random id of this Open of the
//	                      log; size; n, how many batches it has; until;
//	                      and ended, cut and stopped once set.
//	log:<key>#<id>#<seq>  batch seq (from 0): d, its bytes, at most
//	                      maxLogBatch of them; at, the position of its
//	                      first byte.
//
// Batches are contiguous: batch seq starts where batch seq-1 ends, and the
// first n of them hold the log's size bytes. A writer writes its batches
// first and then moves the head past them, on condition that the head is
// still at the position (and batch count) it wrote at, so a batch is part
// of the log only once the head counts it; a batch written by a write that
// then failed is overwritten by the next. The id keeps the batches of one
// Open apart from those of the log it replaced, which end by time to live.
//
// A reader finds the batch holding a position by its seq: the one after
// where its own last read ended, which each instance remembers per log
// (logMark), or else by a search on the batches' starts, which grow with
// their seq.

// Attribute names of turn logs' items.
const (
	attrTurn    = "turn"
	attrMeta    = "meta"
	attrLogID   = "id"
	attrSize    = "size"
	attrBatches = "n"
	attrEnded   = "ended"
	attrCut     = "cut"
	attrStopped = "stopped"
	attrData    = "d"
	attrAt      = "at"
)

const (
	// defaultLogPoll is how often a reader waiting at a log's end reads
	// its head when LogPoll is zero.
	defaultLogPoll = 100 * time.Millisecond
	// maxLogBatch bounds the bytes of one batch item, well within
	// DynamoDB's 400 KB per item; a bigger Append writes several.
	maxLogBatch = 256 << 10
	// maxLogReadBatches bounds the batch items one Read fetches: a log of
	// small appends returns fewer than MaxLogRead bytes per Read rather
	// than making a Read of thousands of calls.
	maxLogReadBatches = 32
	// logBatchLife keeps a batch item past the life its log had when it was
	// written: the log lives on while it is appended to and for its
	// retention after End, which no batch written earlier knows of. A day
	// covers any turn the gateway relays and its retention; reads never
	// rely on time to live, so this costs a day of storage, not accuracy.
	logBatchLife = 24 * time.Hour
)

// logHead is a log's head item, read.
type logHead struct {
	turn, meta, id      string
	size, n             int64
	ended, cut, stopped bool
}

// logMark is what an instance knows of a log from its last write or read
// of it: that batch seq of the log's Open id starts at position at. A
// writer appending at at writes batch seq next; a reader reading from at
// reads batch seq first. A mark that is wrong costs reads, never accuracy.
type logMark struct {
	turn, id string
	seq, at  int64
}

var _ Logs = (*DynamoDB)(nil)

// Open implements Logs: one write of the head.
func (d *DynamoDB) Open(ctx context.Context, key, turn, meta string, ttl time.Duration) error {
	if err := checkLogWrite(turn, 0, ttl); err != nil {
		return err
	}
	if err := d.check(); err != nil {
		return err
	}
	id := rand.Text()
	until := d.micros() + micros(ttl)
	vals := nums(":zero", int64(0), ":until", until, ":exp", expires(until))
	vals[":t"] = &types.AttributeValueMemberS{Value: turn}
	vals[":m"] = &types.AttributeValueMemberS{Value: meta}
	vals[":id"] = &types.AttributeValueMemberS{Value: id}
	_, _, err := d.update(ctx, logHeadKey(key), &dynamodb.UpdateItemInput{
		UpdateExpression: aws.String("SET #t = :t, #m = :m, #id = :id, #s = :zero, #n = :zero, #u = :until, #exp = :exp " +
			"REMOVE #end, #cut, #stop"),
		ExpressionAttributeNames: map[string]string{"#t": attrTurn, "#m": attrMeta, "#id": attrLogID, "#s": attrSize,
			"#n": attrBatches, "#u": attrUntil, "#exp": attrExpires, "#end": attrEnded, "#cut": attrCut, "#stop": attrStopped},
		ExpressionAttributeValues: vals,
	})
	if err != nil {
		return fmt.Errorf("limit: dynamodb open log %q: %w", key, err)
	}
	d.setMark(key, logMark{turn: turn, id: id})
	return nil
}

// Append implements Logs: one write per batch of data (one per
// maxLogBatch bytes), then one of the head on condition that it is still
// turn's log at position at with the batches this instance expected.
// Without a mark for the log at at (the instance did not open it, or a
// write of it failed), it reads the head first.
func (d *DynamoDB) Append(ctx context.Context, key, turn string, at int64, data []byte, ttl time.Duration) error {
	if err := checkLogWrite(turn, at, ttl); err != nil {
		return err
	}
	if err := d.check(); err != nil {
		return err
	}
	fail := func(err error) error {
		d.dropMark(key)
		if errors.Is(err, ErrLogGone) || errors.Is(err, ErrLogPosition) {
			return err
		}
		return fmt.Errorf("limit: dynamodb append to log %q: %w", key, err)
	}
	for range maxTries {
		m, err := d.writeMark(ctx, key, turn, at)
		if err != nil {
			return fail(err)
		}
		now := d.micros()
		until := now + micros(ttl)
		seq, pos := m.seq, at
		for rest := data; len(rest) > 0; seq++ {
			b := rest[:min(len(rest), maxLogBatch)]
			if err := d.putBatch(ctx, key, m.id, seq, pos, b, until); err != nil {
				return fail(err)
			}
			pos += int64(len(b))
			rest = rest[len(b):]
		}
		vals := nums(":at", at, ":size", pos, ":seq", m.seq, ":n", seq, ":now", now, ":until", until, ":exp", expires(until))
		vals[":t"] = &types.AttributeValueMemberS{Value: turn}
		vals[":id"] = &types.AttributeValueMemberS{Value: m.id}
		out, item, err := d.update(ctx, logHeadKey(key), &dynamodb.UpdateItemInput{
			UpdateExpression: aws.String("SET #s = :size, #n = :n, #u = :until, #exp = :exp"),
			ConditionExpression: aws.String("#t = :t AND #id = :id AND #s = :at AND #n = :seq AND #u > :now " +
				"AND attribute_not_exists(#end)"),
			ExpressionAttributeNames: map[string]string{"#t": attrTurn, "#id": attrLogID, "#s": attrSize,
				"#n": attrBatches, "#u": attrUntil, "#exp": attrExpires, "#end": attrEnded},
			ExpressionAttributeValues: vals,
		})
		if err != nil {
			return fail(err)
		}
		if out != nil {
			d.setMark(key, logMark{turn: turn, id: m.id, seq: seq, at: pos})
			return nil
		}
		if err := logRefusal(d.parseHead(item), turn, at); err != nil {
			return fail(err)
		}
		// The log is turn's at at, but not as this instance's mark had it
		// (another Open of the same turn): read the head afresh.
		d.dropMark(key)
	}
	return fail(ErrContention)
}

// writeMark returns where turn's next batch goes when it appends at at:
// from this instance's mark when it has one there, else from the head.
func (d *DynamoDB) writeMark(ctx context.Context, key, turn string, at int64) (logMark, error) {
	if m, ok := d.mark(key); ok && m.turn == turn && m.at == at {
		return m, nil
	}
	h, err := d.readHead(ctx, key)
	if err != nil {
		return logMark{}, err
	}
	if err := logRefusal(h, turn, at); err != nil {
		return logMark{}, err
	}
	return logMark{turn: turn, id: h.id, seq: h.n, at: h.size}, nil
}

// putBatch writes batch seq of log id, unconditionally: until the head
// counts it, no reader reads it.
func (d *DynamoDB) putBatch(ctx context.Context, key, id string, seq, at int64, data []byte, until int64) error {
	vals := nums(":at", at, ":exp", expires(until+micros(logBatchLife)))
	vals[":d"] = &types.AttributeValueMemberB{Value: data}
	_, _, err := d.update(ctx, logBatchKey(key, id, seq), &dynamodb.UpdateItemInput{
		UpdateExpression:          aws.String("SET #d = :d, #at = :at, #exp = :exp"),
		ExpressionAttributeNames:  map[string]string{"#d": attrData, "#at": attrAt, "#exp": attrExpires},
		ExpressionAttributeValues: vals,
	})
	return err
}

// End implements Logs: one write of the head, on condition that it is
// turn's log at size.
func (d *DynamoDB) End(ctx context.Context, key, turn string, size int64, cut bool, retain time.Duration) error {
	if err := checkLogWrite(turn, size, retain); err != nil {
		return err
	}
	if err := d.check(); err != nil {
		return err
	}
	d.dropMark(key)
	for range maxTries {
		now := d.micros()
		until := now + micros(retain)
		vals := nums(":size", size, ":now", now, ":until", until, ":exp", expires(until))
		vals[":t"] = &types.AttributeValueMemberS{Value: turn}
		vals[":true"] = &types.AttributeValueMemberBOOL{Value: true}
		vals[":cut"] = &types.AttributeValueMemberBOOL{Value: cut}
		out, item, err := d.update(ctx, logHeadKey(key), &dynamodb.UpdateItemInput{
			UpdateExpression:    aws.String("SET #end = :true, #cut = :cut, #u = :until, #exp = :exp"),
			ConditionExpression: aws.String("#t = :t AND #s = :size AND #u > :now AND attribute_not_exists(#end)"),
			ExpressionAttributeNames: map[string]string{"#t": attrTurn, "#s": attrSize, "#u": attrUntil,
				"#exp": attrExpires, "#end": attrEnded, "#cut": attrCut},
			ExpressionAttributeValues: vals,
		})
		if err != nil {
			return fmt.Errorf("limit: dynamodb end log %q: %w", key, err)
		}
		if out != nil {
			return nil
		}
		if err := logRefusal(d.parseHead(item), turn, size); err != nil {
			return err
		}
		// The head read after the refusal (where the table does not return
		// it) had changed since: try again.
	}
	return fmt.Errorf("limit: dynamodb end log %q: %w", key, ErrContention)
}

// logRefusal says why a write of turn at position at would be refused by
// the head h (nil for none, or expired); nil when it would not be.
func logRefusal(h *logHead, turn string, at int64) error {
	switch {
	case h == nil || h.turn != turn:
		return ErrLogGone
	case h.ended || h.size != at:
		return ErrLogPosition
	}
	return nil
}

// Read implements Logs: one read of the head, then of the batches from the
// one holding from (at most maxLogReadBatches of them). A reader at the end
// reads the head every LogPoll until there is more, or an end, or wait has
// passed.
func (d *DynamoDB) Read(ctx context.Context, key string, from int64, wait time.Duration) (LogRead, error) {
	if err := checkLogRead(from, wait); err != nil {
		return LogRead{}, err
	}
	if err := d.check(); err != nil {
		return LogRead{}, err
	}
	deadline := time.Now().Add(wait)
	for {
		h, err := d.readHead(ctx, key)
		if err != nil {
			return LogRead{}, fmt.Errorf("limit: dynamodb read log %q: %w", key, err)
		}
		if h == nil {
			return LogRead{}, nil
		}
		if from < h.size || h.ended || wait == 0 {
			r := LogRead{Found: true, Turn: h.turn, Meta: h.meta, Size: h.size, Ended: h.ended, Cut: h.cut}
			if from < h.size {
				if r.Data, err = d.readBatches(ctx, key, h, from); err != nil {
					return LogRead{}, fmt.Errorf("limit: dynamodb read log %q: %w", key, err)
				}
			}
			return r, nil
		}
		pause := min(time.Until(deadline), d.logPoll())
		if pause <= 0 {
			wait = 0 // one last look
			continue
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return LogRead{}, ctx.Err()
		}
	}
}

// readBatches returns h's bytes from position from (below its size) on, as
// far as MaxLogRead bytes or maxLogReadBatches batches go.
func (d *DynamoDB) readBatches(ctx context.Context, key string, h *logHead, from int64) ([]byte, error) {
	seq, b, err := d.findBatch(ctx, key, h, from)
	if err != nil {
		return nil, err
	}
	stop := min(h.size, from+MaxLogRead)
	data := make([]byte, 0, min(stop-from, maxLogReadBatches*maxLogBatch))
	for reads := 1; ; reads++ {
		end := b.at + int64(len(b.data))
		data = append(data, b.data[max(from, b.at)-b.at:min(stop, end)-b.at]...)
		if end > stop {
			d.setMark(key, logMark{turn: h.turn, id: h.id, seq: seq, at: b.at})
			return data, nil
		}
		if end == stop || reads == maxLogReadBatches {
			d.setMark(key, logMark{turn: h.turn, id: h.id, seq: seq + 1, at: end})
			return data, nil
		}
		seq++
		if seq >= h.n {
			return nil, fmt.Errorf("its %d batches end at %d, short of its size %d", h.n, end, h.size)
		}
		if b, err = d.getBatch(ctx, key, h.id, seq); err != nil {
			return nil, err
		}
		if b.at != end {
			return nil, fmt.Errorf("batch %d starts at %d, not where batch %d ends, %d", seq, b.at, seq-1, end)
		}
	}
}

// logBatch is a batch item, read.
type logBatch struct {
	at   int64
	data []byte
}

// findBatch returns the batch of h's log that holds position from, which
// is below h's size. It reads first the batch this instance's mark points
// at, which is the one a reader that read up to from before needs; else
// it searches, each read halving the batches the position may be in, or
// guessing its batch from where it lies between the known ones (which is
// right at once for batches of like sizes).
func (d *DynamoDB) findBatch(ctx context.Context, key string, h *logHead, from int64) (int64, logBatch, error) {
	// from lies in one of batches lo to hi, between where lo starts and
	// hi ends.
	lo, hi := int64(0), h.n-1
	loAt, hiEnd := int64(0), h.size
	guess := int64(-1)
	if m, ok := d.mark(key); ok && m.id == h.id && m.seq < h.n && m.at <= from {
		lo, loAt, guess = m.seq, m.at, m.seq
	}
	for probe := 0; lo <= hi && loAt <= from && from < hiEnd; probe++ {
		g := guess
		switch {
		case g >= 0:
			guess = -1
		case probe%2 == 0:
			g = lo + (from-loAt)*(hi-lo+1)/(hiEnd-loAt)
		default:
			g = lo + (hi-lo)/2
		}
		g = min(max(g, lo), hi)
		b, err := d.getBatch(ctx, key, h.id, g)
		if err != nil {
			return 0, logBatch{}, err
		}
		switch end := b.at + int64(len(b.data)); {
		case from < b.at:
			hi, hiEnd = g-1, b.at
		case from >= end:
			lo, loAt = g+1, end
		default:
			return g, b, nil
		}
	}
	return 0, logBatch{}, fmt.Errorf("no batch of %d holds position %d of %d", h.n, from, h.size)
}

// getBatch reads batch seq of log id.
func (d *DynamoDB) getBatch(ctx context.Context, key, id string, seq int64) (logBatch, error) {
	item, err := d.get(ctx, logBatchKey(key, id, seq))
	if err != nil {
		return logBatch{}, err
	}
	data, ok := item[attrData].(*types.AttributeValueMemberB)
	if !ok {
		return logBatch{}, fmt.Errorf("batch %d is missing", seq)
	}
	return logBatch{at: number(item, attrAt), data: data.Value}, nil
}

// Stop implements Logs: one write of the head, on condition that it is
// turn's log.
func (d *DynamoDB) Stop(ctx context.Context, key, turn string) error {
	if err := d.check(); err != nil {
		return err
	}
	vals := nums(":now", d.micros())
	vals[":t"] = &types.AttributeValueMemberS{Value: turn}
	vals[":true"] = &types.AttributeValueMemberBOOL{Value: true}
	cctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	_, err := d.client.UpdateItem(cctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(d.table),
		Key:                       map[string]types.AttributeValue{attrKey: &types.AttributeValueMemberS{Value: logHeadKey(key)}},
		UpdateExpression:          aws.String("SET #stop = :true"),
		ConditionExpression:       aws.String("#t = :t AND #u > :now"),
		ExpressionAttributeNames:  map[string]string{"#stop": attrStopped, "#t": attrTurn, "#u": attrUntil},
		ExpressionAttributeValues: vals,
	})
	if _, ok := errors.AsType[*types.ConditionalCheckFailedException](err); ok {
		return ErrLogGone
	}
	if err != nil {
		return fmt.Errorf("limit: dynamodb stop log %q: %w", key, err)
	}
	return nil
}

// Stopped implements Logs: one read of the head.
func (d *DynamoDB) Stopped(ctx context.Context, key, turn string) (bool, error) {
	if err := d.check(); err != nil {
		return false, err
	}
	h, err := d.readHead(ctx, key)
	if err != nil {
		return false, fmt.Errorf("limit: dynamodb read log %q: %w", key, err)
	}
	if h == nil || h.turn != turn {
		return false, ErrLogGone
	}
	return h.stopped, nil
}

// readHead reads the head of the log under key; nil when there is none,
// or it has expired.
func (d *DynamoDB) readHead(ctx context.Context, key string) (*logHead, error) {
	item, err := d.get(ctx, logHeadKey(key))
	if err != nil {
		return nil, err
	}
	return d.parseHead(item), nil
}

// parseHead reads a head item; nil when there is none, or it has expired.
func (d *DynamoDB) parseHead(item map[string]types.AttributeValue) *logHead {
	turn, ok := item[attrTurn].(*types.AttributeValueMemberS)
	if !ok || number(item, attrUntil) <= d.micros() {
		return nil
	}
	return &logHead{
		turn:    turn.Value,
		meta:    text(item, attrMeta),
		id:      text(item, attrLogID),
		size:    number(item, attrSize),
		n:       number(item, attrBatches),
		ended:   flag(item, attrEnded),
		cut:     flag(item, attrCut),
		stopped: flag(item, attrStopped),
	}
}

func (d *DynamoDB) logPoll() time.Duration {
	if d.LogPoll > 0 {
		return d.LogPoll
	}
	return defaultLogPoll
}

func (d *DynamoDB) mark(key string) (logMark, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, ok := d.marks[key]
	return m, ok
}

func (d *DynamoDB) setMark(key string, m logMark) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.marks) >= maxHints {
		clear(d.marks)
	}
	d.marks[key] = m
}

func (d *DynamoDB) dropMark(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.marks, key)
}

func logHeadKey(key string) string { return "loghead:" + key }

// logBatchKey is the key of batch seq of log id under key. Neither id
// (base32) nor seq holds a '#', so no two logs' keys meet, whatever key
// holds.
func logBatchKey(key, id string, seq int64) string {
	return "log:" + key + "#" + id + "#" + strconv.FormatInt(seq, 10)
}

// text reads a string attribute: "" when absent.
func text(item map[string]types.AttributeValue, name string) string {
	if s, ok := item[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// flag reads a boolean attribute: false when absent.
func flag(item map[string]types.AttributeValue, name string) bool {
	b, ok := item[name].(*types.AttributeValueMemberBOOL)
	return ok && b.Value
}
