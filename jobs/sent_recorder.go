package jobs

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/doorstep/doorstep/models"
)

// sentRecorder records accepted sends the moment they are accepted, and
// groups the sends that finish together into one statement, the way
// PostgreSQL groups commits: a send that finds no write in progress is
// written at once, alone; sends that finish while a write is in progress go
// together in the next one. Under load the sends a worker process has in
// flight share one round trip and one commit instead of taking one each;
// with one send at a time nothing waits. A send is never held back to fill
// a group, so the duplicate window (the provider accepted, the row does
// not say so yet) is the write in progress plus its own, never a timer.
//
// The caller need not wait for the write before sending the next message:
// submit returns at once and the outcome arrives on the channel. A batch
// waits for all of its outcomes before it returns.
type sentRecorder struct {
	write func(ctx context.Context, now time.Time, ms []models.Message) ([]uint64, error)
	now   func() time.Time

	mu      sync.Mutex
	writing bool
	pending []sentEntry
}

type sentEntry struct {
	msg  models.Message
	done chan sentResult // buffered 1: the outcome of the write that carried it
}

type sentResult struct {
	recorded bool // false: another worker took the message over meanwhile
	err      error
}

func newSentRecorder(st *models.Store, now func() time.Time) *sentRecorder {
	return &sentRecorder{write: st.MarkSentMany, now: now}
}

// recordTimeout bounds one grouped write.
const recordTimeout = 10 * time.Second

// submit queues m to be written as sent and starts a writer if none runs.
// The write does not depend on the caller's context: a send the provider
// accepted must be recorded.
func (r *sentRecorder) submit(m models.Message) <-chan sentResult {
	e := sentEntry{msg: m, done: make(chan sentResult, 1)}
	r.mu.Lock()
	r.pending = append(r.pending, e)
	start := !r.writing
	r.writing = true
	r.mu.Unlock()
	if start {
		go r.writeAll()
	}
	return e.done
}

// record is submit, waiting for the outcome.
func (r *sentRecorder) record(m models.Message) (bool, error) {
	res := <-r.submit(m)
	return res.recorded, res.err
}

// writeAll writes what is pending, then what arrived meanwhile, until
// nothing is left; it is the only writer while it runs.
func (r *sentRecorder) writeAll() {
	for {
		r.mu.Lock()
		batch := r.pending
		r.pending = nil
		if len(batch) == 0 {
			r.writing = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		r.flush(batch)
	}
}

// flush writes batch and hands every entry its outcome.
func (r *sentRecorder) flush(batch []sentEntry) {
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	ms := make([]models.Message, len(batch))
	for i, e := range batch {
		ms[i] = e.msg
	}
	done, err := r.write(ctx, r.now(), ms)
	if err != nil {
		err = fmt.Errorf("record %d accepted sends: %w", len(ms), err)
	}
	for _, e := range batch {
		e.done <- sentResult{recorded: err == nil && slices.Contains(done, e.msg.ID), err: err}
	}
}
