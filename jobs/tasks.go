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
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/hibiken/asynq"
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

// Queues maps queue names to asynq priorities.
var Queues = map[string]int{QueueIntake: 6, QueueFlows: 3}

// DeliveryPayload names the delivery to process.
type DeliveryPayload struct {
	DeliveryID uint64 `json:"delivery_id"`
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

// TriggerPayload names the trigger to run.
type TriggerPayload struct {
	TriggerID uint64 `json:"trigger_id"`
}

// NewTriggerTask builds the task that runs a trigger's subscribed flows.
func NewTriggerTask(id uint64) (*asynq.Task, []asynq.Option) {
	b, _ := json.Marshal(TriggerPayload{TriggerID: id})
	return asynq.NewTask(TypeTriggerRun, b),
		[]asynq.Option{asynq.TaskID("trigger:" + strconv.FormatUint(id, 10)), asynq.Queue(QueueFlows), asynq.MaxRetry(20)}
}

func decode[T any](t *asynq.Task) (T, error) {
	var v T
	if err := json.Unmarshal(t.Payload(), &v); err != nil {
		return v, fmt.Errorf("decode %s payload: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	return v, nil
}
