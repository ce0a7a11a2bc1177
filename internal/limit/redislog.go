package limit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gomodule/redigo/redis"
)

// A turn log in Redis is two keys in one hash slot (the braces are a hash
// tag, so that a cluster keeps them together for the scripts that touch
// both):
//
//	{log:<key>}:head  hash: turn, meta, size, and ended, cut and stopped
//	                  once set. Every write checks the turn and the size
//	                  here.
//	{log:<key>}       stream: the bytes, one entry per piece of up to
//	                  redisLogEntry bytes, field d, whose id is <end>-0,
//	                  the position just past its last byte, so the entry
//	                  holding position P is the first with an id of at least
//	                  <P+1>-0; and on End one entry <size>-1, field cut, that
//	                  wakes the readers blocked at the end.
//
// Both expire ttl after the last Open or Append, and retain after End.

const (
	// redisLogEntry bounds one stream entry, so that a Read, which fetches
	// whole entries, fetches not much more than MaxLogRead.
	redisLogEntry = 256 << 10
	// redisLogReadEntries bounds the entries one Read returns bytes of, and
	// so the time its script holds the server: a log of small appends
	// returns fewer than MaxLogRead bytes per Read.
	redisLogReadEntries = 1024
	// redisLogBlock bounds one XREAD BLOCK of a reader waiting at a log's
	// end. A reader re-reads the log after each, which is how it learns of
	// an End short of its position in a log that a new turn replaced. A
	// reader whose context ends stops waiting at once (and closes the
	// connection it waited on).
	redisLogBlock = time.Second
)

// The scripts' results for a write refused.
const (
	logWritten  = 1
	logGone     = 0
	logPosition = -1
)

// logOpenScript starts a log. KEYS: head, stream; ARGV: turn, meta, ttl ms.
// The stream is made by the first XADD.
var logOpenScript = redis.NewScript(2, `
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'turn', ARGV[1], 'meta', ARGV[2], 'size', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

// logWritable refuses a write of turn ARGV[1] at position ARGV[2] with
// logGone or logPosition. It leaves the size in size.
const logWritable = `
local head = redis.call('HMGET', KEYS[1], 'turn', 'size', 'ended')
if head[1] ~= ARGV[1] then return 0 end
local size = tonumber(head[2])
if head[3] or size ~= tonumber(ARGV[2]) then return -1 end
`

// logAppendScript appends. KEYS: head, stream; ARGV: turn, position, ttl
// ms, then the pieces of the data, each one stream entry.
var logAppendScript = redis.NewScript(2, logWritable+`
for i = 4, #ARGV do
  size = size + string.len(ARGV[i])
  redis.call('XADD', KEYS[2], string.format('%.0f-0', size), 'd', ARGV[i])
end
redis.call('HSET', KEYS[1], 'size', string.format('%.0f', size))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
`)

// logEndScript ends a log. KEYS: head, stream; ARGV: turn, size, retain
// ms, cut (1 or 0).
var logEndScript = redis.NewScript(2, logWritable+`
redis.call('XADD', KEYS[2], string.format('%.0f-1', size), 'cut', ARGV[4])
redis.call('HSET', KEYS[1], 'ended', '1', 'cut', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
`)

// logStopScript marks turn ARGV[1]'s log stopped. KEYS: head.
var logStopScript = redis.NewScript(1, `
if redis.call('HGET', KEYS[1], 'turn') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'stopped', '1')
return 1
`)

// logReadScript reads a log from a position. KEYS: head, stream; ARGV:
// position, most bytes, most entries. Returns nil for no log, else turn,
// meta, size, ended (1 or 0), cut (1 or 0) and the bytes. It reads the
// stream 16 entries at a time, so that it holds not much more than the
// bytes it returns, however big or small the entries are.
var logReadScript = redis.NewScript(2, `
local head = redis.call('HMGET', KEYS[1], 'turn', 'meta', 'size', 'ended', 'cut')
if not head[1] then return false end
local from = tonumber(ARGV[1])
local stop = math.min(tonumber(head[3]), from + tonumber(ARGV[2]))
local most = tonumber(ARGV[3])
local parts = {}
local pos = from + 1
while pos <= stop and #parts < most do
  local entries = redis.call('XRANGE', KEYS[2], string.format('%.0f-0', pos), '+', 'COUNT', 16)
  if #entries == 0 then break end
  for _, e in ipairs(entries) do
    local last = tonumber(string.match(e[1], '^(%d+)-'))
    local fields = e[2]
    if fields[1] == 'd' then
      local d = fields[2]
      local first = last - string.len(d)
      parts[#parts + 1] = string.sub(d, math.max(from, first) - first + 1, math.min(stop, last) - first)
    end
    pos = last + 1
    if pos > stop or #parts >= most then break end
  end
end
return {head[1], head[2], head[3], head[4] or '0', head[5] or '0', table.concat(parts)}
`)

var _ Logs = (*Redis)(nil)

// logKeys returns the keys of the log under key: its head and its stream.
func (r *Redis) logKeys(key string) (head, stream string) {
	stream = r.prefix + "{log:" + key + "}"
	return stream + ":head", stream
}

// Open implements Logs: one script that deletes the log there and writes
// the new one's head.
func (r *Redis) Open(ctx context.Context, key, turn, meta string, ttl time.Duration) error {
	if err := checkLogWrite(turn, 0, ttl); err != nil {
		return err
	}
	head, stream := r.logKeys(key)
	if _, err := r.eval(ctx, logOpenScript, head, stream, turn, meta, millis(ttl)); err != nil {
		return fmt.Errorf("limit: redis open log %q: %w", key, err)
	}
	return nil
}

// Append implements Logs: one script that checks the turn and the position
// and adds the data in entries of at most redisLogEntry bytes.
func (r *Redis) Append(ctx context.Context, key, turn string, at int64, data []byte, ttl time.Duration) error {
	if err := checkLogWrite(turn, at, ttl); err != nil {
		return err
	}
	head, stream := r.logKeys(key)
	args := make([]any, 0, 5+(len(data)+redisLogEntry-1)/redisLogEntry)
	args = append(args, head, stream, turn, at, millis(ttl))
	for len(data) > 0 {
		n := min(len(data), redisLogEntry)
		args = append(args, data[:n])
		data = data[n:]
	}
	return r.logWrite(ctx, "append to", key, logAppendScript, args)
}

// End implements Logs: one script that checks the turn and the size and
// adds the entry that marks the end.
func (r *Redis) End(ctx context.Context, key, turn string, size int64, cut bool, retain time.Duration) error {
	if err := checkLogWrite(turn, size, retain); err != nil {
		return err
	}
	c := "0"
	if cut {
		c = "1"
	}
	head, stream := r.logKeys(key)
	return r.logWrite(ctx, "end", key, logEndScript, []any{head, stream, turn, size, millis(retain), c})
}

// logWrite runs a script that writes to the log under key and answers
// logWritten, logGone or logPosition.
func (r *Redis) logWrite(ctx context.Context, verb, key string, script *redis.Script, keysAndArgs []any) error {
	res, err := redis.Int64(r.eval(ctx, script, keysAndArgs...))
	switch {
	case err != nil:
		return fmt.Errorf("limit: redis %s log %q: %w", verb, key, err)
	case res == logGone:
		return ErrLogGone
	case res == logPosition:
		return ErrLogPosition
	}
	return nil
}

// Read implements Logs: one script that reads the head and the entries
// from the position (at most redisLogReadEntries of them). A reader at the
// end blocks on the stream (XREAD BLOCK, at most redisLogBlock at a time)
// for an entry past its position, and reads again when one comes.
func (r *Redis) Read(ctx context.Context, key string, from int64, wait time.Duration) (LogRead, error) {
	if err := checkLogRead(from, wait); err != nil {
		return LogRead{}, err
	}
	head, stream := r.logKeys(key)
	deadline := time.Now().Add(wait)
	for {
		lr, err := r.readLog(ctx, head, stream, from)
		if err != nil {
			return LogRead{}, fmt.Errorf("limit: redis read log %q: %w", key, err)
		}
		if !lr.Found || len(lr.Data) > 0 || lr.Ended || wait == 0 {
			return lr, nil
		}
		block := min(time.Until(deadline), redisLogBlock)
		if block < time.Millisecond {
			wait = 0 // one last look
			continue
		}
		// Entries past <from>-0 are the end at from and any data past it.
		// The reply, nil when the block ends with none, does not matter:
		// the next readLog reads what came.
		_, err = r.do(ctx, block+r.timeout, "XREAD", "COUNT", 1, "BLOCK", block.Milliseconds(),
			"STREAMS", stream, strconv.FormatInt(from, 10)+"-0")
		if err := ctx.Err(); err != nil {
			return LogRead{}, err
		}
		if err != nil {
			return LogRead{}, fmt.Errorf("limit: redis wait on log %q: %w", key, err)
		}
	}
}

// readLog runs logReadScript, whose reply is nil for no log, else six bulk
// strings.
func (r *Redis) readLog(ctx context.Context, head, stream string, from int64) (LogRead, error) {
	res, err := redis.Values(r.eval(ctx, logReadScript, head, stream, from, MaxLogRead, redisLogReadEntries))
	if errors.Is(err, redis.ErrNil) {
		return LogRead{}, nil
	}
	if err != nil {
		return LogRead{}, err
	}
	if len(res) != 6 {
		return LogRead{}, fmt.Errorf("unexpected reply %v", res)
	}
	var b [6][]byte
	for i, v := range res {
		var ok bool
		if b[i], ok = v.([]byte); !ok {
			return LogRead{}, fmt.Errorf("unexpected reply %v", res)
		}
	}
	size, err := strconv.ParseInt(string(b[2]), 10, 64)
	if err != nil {
		return LogRead{}, fmt.Errorf("unexpected size %q", b[2])
	}
	lr := LogRead{Found: true, Turn: string(b[0]), Meta: string(b[1]), Size: size,
		Ended: string(b[3]) == "1", Cut: string(b[4]) == "1"}
	if len(b[5]) > 0 {
		lr.Data = b[5]
	}
	return lr, nil
}

// Stop implements Logs: one script that checks the turn and sets the flag.
func (r *Redis) Stop(ctx context.Context, key, turn string) error {
	head, _ := r.logKeys(key)
	ok, err := redis.Bool(r.eval(ctx, logStopScript, head, turn))
	if err != nil {
		return fmt.Errorf("limit: redis stop log %q: %w", key, err)
	}
	if !ok {
		return ErrLogGone
	}
	return nil
}

// Stopped implements Logs: one HMGET of the head.
func (r *Redis) Stopped(ctx context.Context, key, turn string) (bool, error) {
	head, _ := r.logKeys(key)
	res, err := redis.Values(r.do(ctx, r.timeout, "HMGET", head, "turn", "stopped"))
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("unexpected reply %v", res)
	}
	if err != nil {
		return false, fmt.Errorf("limit: redis read log %q: %w", key, err)
	}
	if t, _ := res[0].([]byte); string(t) != turn {
		return false, ErrLogGone
	}
	return res[1] != nil, nil
}

// millis rounds d up to whole milliseconds, the unit of PEXPIRE.
func millis(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}
