package limit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Logs keeps turn logs: under each key, the bytes one turn's answer has
// written so far, appended by the one instance relaying the turn and read,
// while it grows, by any instance a client resumes on. A key holds one
// turn's log at a time: Open for a new turn replaces the last one, and
// readers tell them apart by the turn id each log carries.
//
// Positions are byte offsets from the start of the log. A writer appends
// at the log's current size only, so a log has no gaps; and every log
// expires: ttl after its last Open or Append while it is written, and its
// retention after End.
//
// Memory, Redis and DynamoDB implement Logs beside Store, in the same
// state: one instance's memory, or what every instance shares.
type Logs interface {
	// Open starts turn's log under key, empty, replacing any log there,
	// with meta kept beside it for readers (the answer's format, its
	// headers). It expires after ttl unless appended to.
	Open(ctx context.Context, key, turn, meta string, ttl time.Duration) error
	// Append adds data at position at, which must be the log's size, and
	// extends the log's life to ttl from now. It fails with ErrLogGone
	// when the log under key is no longer turn's (another turn opened it,
	// or it expired), and with ErrLogPosition when at is not its size.
	Append(ctx context.Context, key, turn string, at int64, data []byte, ttl time.Duration) error
	// End marks turn's log complete at size bytes (which must be its
	// size, as for Append) and keeps it for retain. cut says it ends short
	// of the turn's answer: the turn went on, but its log could not.
	End(ctx context.Context, key, turn string, size int64, cut bool, retain time.Duration) error
	// Read returns the log under key from position from on: what is there
	// now, up to MaxLogRead bytes. When nothing is there past from and the
	// log has not ended, it waits up to wait for more, or for the end. A
	// key with no log reads as Found false.
	Read(ctx context.Context, key string, from int64, wait time.Duration) (LogRead, error)
	// Stop asks the instance relaying turn to stop it; Stopped tells that
	// instance whether someone asked. Both fail with ErrLogGone when the log
	// under key is not turn's.
	Stop(ctx context.Context, key, turn string) error
	Stopped(ctx context.Context, key, turn string) (bool, error)
}

// LogRead is what one Read found.
type LogRead struct {
	// Found says there is a log under the key; nothing else is set
	// without one.
	Found bool
	// Turn and Meta are what Open was given.
	Turn, Meta string
	// Data is the log's bytes from the position read from on, as far as
	// they are there (and at most MaxLogRead of them). A store may return
	// fewer, as DynamoDB does past a bound on the items one Read fetches,
	// but never none when there are some.
	Data []byte
	// Size is how many bytes the log held when read.
	Size int64
	// Ended says the log is complete at Size bytes; Cut, that it ended
	// short of its turn's answer.
	Ended, Cut bool
}

// MaxLogRead bounds the bytes one Read returns.
const MaxLogRead = 1 << 20

var (
	// ErrLogGone means the log under a key is not the writer's turn's: a
	// newer turn replaced it, or it expired.
	ErrLogGone = errors.New("limit: the turn's log is gone")
	// ErrLogPosition means an Append or End was not at the log's size: a
	// write went missing, or the log had ended.
	ErrLogPosition = errors.New("limit: append at a position other than the log's end")
)

func checkLogWrite(turn string, at int64, ttl time.Duration) error {
	if turn == "" {
		return fmt.Errorf("%w: an empty turn id", ErrInvalid)
	}
	if at < 0 {
		return fmt.Errorf("%w: position %d", ErrInvalid, at)
	}
	return checkTTL(ttl)
}

func checkLogRead(from int64, wait time.Duration) error {
	if from < 0 {
		return fmt.Errorf("%w: position %d", ErrInvalid, from)
	}
	if wait < 0 {
		return fmt.Errorf("%w: wait %v", ErrInvalid, wait)
	}
	return nil
}
