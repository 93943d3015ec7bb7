// Package jobs holds the background work: the delivery processor that turns
// stored webhooks into orders and triggers, the dispatcher that moves
// pending work from the database to asynq, the trigger runner that hands
// triggers to the post-purchase flows, and their task types.
//
// The database is the source of truth for pending work; Redis only carries
// it. Task payloads hold ids only (no personal data in Redis), and every
// task id is deterministic so a re-dispatch of the same work is a no-op
// while the first copy is still queued.
package jobs

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/doorstep/doorstep/models"
)

// Task types, "<area>:<verb>".
const (
	TypeDeliveryProcess = "delivery:process"
	TypeTriggerRun      = "trigger:run"
)

// Queues, by how much a delay hurts.
const (
	QueueIntake = "intake"
	QueueFlows  = "flows"
)

// DeliveryPayload names the delivery to process, or a batch of them.
type DeliveryPayload struct {
	DeliveryID  uint64   `json:"delivery_id,omitempty"`
	DeliveryIDs []uint64 `json:"delivery_ids,omitempty"`
}

func (p DeliveryPayload) ids() []uint64 {
	if len(p.DeliveryIDs) > 0 {
		return p.DeliveryIDs
	}
	if p.DeliveryID != 0 {
		return []uint64{p.DeliveryID}
	}
	return nil
}

// NewDeliveryTask builds the task for one stored delivery. Its id is the
// delivery id and its attempt count: dispatching it twice while queued
// enqueues it once, and a replay (attempts moved on) is not blocked by the
// previous attempt's task still sitting in asynq's archive.
func NewDeliveryTask(id uint64, attempts int) (*asynq.Task, []asynq.Option) {
	b, _ := json.Marshal(DeliveryPayload{DeliveryID: id})
	taskID := "delivery:" + strconv.FormatUint(id, 10) + ":" + strconv.Itoa(attempts)
	return asynq.NewTask(TypeDeliveryProcess, b),
		[]asynq.Option{asynq.TaskID(taskID), asynq.Queue(QueueIntake), asynq.MaxRetry(20)}
}

// NewDeliveryBatchTask builds one task for several stored deliveries (a
// backlog drains in batches: see Processor.ProcessBatch). Its id is derived
// from the deliveries and their attempt counts, so the same batch
// dispatched twice while queued is enqueued once. A re-dispatch that groups
// the deliveries differently makes a second task; processing is idempotent
// per delivery, so that costs a little work and nothing else.
//
// A delivery handed over before (DispatchedAt set) and still waiting gets
// a new id: its earlier task may be "active" in Redis under a worker that
// died, and asynq refuses that id until it recovers the task minutes later.
func NewDeliveryBatchTask(ds []models.PendingDelivery) (*asynq.Task, []asynq.Option) {
	if len(ds) == 1 && ds[0].DispatchedAt == nil {
		return NewDeliveryTask(ds[0].ID, ds[0].Attempts)
	}
	ids := make([]uint64, len(ds))
	h := fnv.New64a()
	var buf [24]byte
	for i, d := range ds {
		ids[i] = d.ID
		binary.LittleEndian.PutUint64(buf[:8], d.ID)
		binary.LittleEndian.PutUint64(buf[8:16], uint64(d.Attempts))
		var redispatch int64
		if d.DispatchedAt != nil {
			redispatch = d.DispatchedAt.UnixNano()
		}
		binary.LittleEndian.PutUint64(buf[16:], uint64(redispatch))
		h.Write(buf[:])
	}
	b, _ := json.Marshal(DeliveryPayload{DeliveryIDs: ids})
	taskID := fmt.Sprintf("deliveries:%d-%d:%x", ids[0], ids[len(ids)-1], h.Sum64())
	return asynq.NewTask(TypeDeliveryProcess, b),
		[]asynq.Option{asynq.TaskID(taskID), asynq.Queue(QueueIntake), asynq.MaxRetry(20)}
}

// TriggerPayload names the trigger to run.
type TriggerPayload struct {
	TriggerID uint64 `json:"trigger_id"`
}

// NewTriggerTask builds the task that runs a trigger's subscribed flows.
func NewTriggerTask(id uint64) (*asynq.Task, []asynq.Option) {
	return newTriggerTask(id, nil)
}

// newTriggerTask: a trigger handed over before and not done gets a new id
// (its earlier task may be stuck "active" under a dead worker).
func newTriggerTask(id uint64, dispatchedAt *time.Time) (*asynq.Task, []asynq.Option) {
	b, _ := json.Marshal(TriggerPayload{TriggerID: id})
	taskID := "trigger:" + strconv.FormatUint(id, 10)
	if dispatchedAt != nil {
		taskID += ":r" + strconv.FormatInt(dispatchedAt.UnixNano(), 36)
	}
	return asynq.NewTask(TypeTriggerRun, b),
		[]asynq.Option{asynq.TaskID(taskID), asynq.Queue(QueueFlows), asynq.MaxRetry(20)}
}

func decode[T any](t *asynq.Task) (T, error) {
	var v T
	if err := json.Unmarshal(t.Payload(), &v); err != nil {
		return v, fmt.Errorf("decode %s payload: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	return v, nil
}
