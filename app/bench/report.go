package bench

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Markdown writes the report as a markdown block (what --out appends and
// what the command prints).
func (r *Report) Markdown(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	verdict := "ledger balanced"
	if r.Void() {
		verdict = "**VOID: the ledger does not balance**"
	}
	c, m := r.Config, r.Machine
	p("### Ingest benchmark, %s — %s\n\n", r.Started.Format("2006-01-02 15:04 UTC"), verdict)
	roles := "the load generator, the baseline and Doorstep (web and worker roles) run in one process on the same cores"
	if r.WorkerProcess {
		roles = "the load generator, the baseline and Doorstep's web role run in one process, Doorstep's worker role in a second " +
			"(`doorstep bench worker`, as `serve --role worker` would), on the same cores; \"bench process\" CPU below counts both"
	}
	p("- **Machine:** %s, %d cores (GOMAXPROCS %d), %s, %s. PostgreSQL %s and Redis %s on the same machine over loopback; %s.\n",
		m.CPU, m.Cores, m.GOMAXPROCS, m.OS, m.Go, orUnknown(m.Postgres), orUnknown(m.Redis), roles)
	p("- **Run:** `doorstep bench ingest --clients %d --duration %s --rate %s --dup %s --phases %s` — %d keep-alive clients, "+
		"%s per phase (closed-loop phases after a %s warm-up), %s exact duplicates (same event id); took %s.\n",
		c.Clients, c.Duration, num(c.Rate), strconv.FormatFloat(c.Dup, 'f', -1, 64), strings.Join(c.Phases, ","),
		c.Clients, c.Duration, c.Warmup, pct(c.Dup), r.Elapsed.Round(time.Second))
	if r.Before.Known {
		p("- **Before the run** other processes kept %.2f of the %d cores busy (1 s sample); anything above ~0.1 skews the numbers.\n", r.Before.Others+r.Before.Self, m.Cores)
	}
	p("\n")

	p("| phase | measure | result | target | met |\n|---|---|---|---|---|\n")
	if a := r.Ack; a != nil {
		p("| 1 ack only | webhooks/s | %s (baseline %s) → **%s of the baseline** | ≥ 60%% of the baseline | %s |\n",
			num(a.Doorstep.Rate()), num(a.Baseline.Rate()), pct(a.Ratio), yes(a.Met()))
		p("| 1 ack only | ack p50 / p99 | %s / %s (baseline %s / %s) | — | |\n", ms(a.Doorstep.Quantile(.5)), ms(a.Doorstep.Quantile(.99)),
			ms(a.Baseline.Quantile(.5)), ms(a.Baseline.Quantile(.99)))
	}
	if d := r.Drain; d != nil {
		done := ""
		if !d.Done {
			done = " (did not finish)"
		}
		p("| 2 drain | deliveries → orders per second | **%s/s**%s (%s in %s) | ≥ 1,000/s | %s |\n", num(d.Rate), done,
			num(float64(d.Backlog)), d.Elapsed.Round(time.Millisecond), yes(d.Met()))
	}
	if x := r.Mixed; x != nil {
		p("| 3 mixed | ack p99 at %s/s open loop | **%s** (p50 %s, %d rejected) | < 50 ms | %s |\n", num(x.Rate),
			ms(x.Tally.Quantile(.99)), ms(x.Tally.Quantile(.5)), x.Tally.Rejected, yes(x.P99Met()))
		p("| 3 mixed | processing keeps up | backlog slope %+.1f/s, max %s, empty %s after the last send | flat | %s |\n",
			x.Slope, num(float64(maxPending(x.Curve))), tailText(x), yes(x.KeptUp()))
	}
	p("\n")

	if a := r.Ack; a != nil {
		p("**Phase 1, ack only** (web role only: no dispatcher, no workers). Closed loop: each client sends its next webhook when the previous one is answered.\n\n")
		p("| server | sent | acked | rejected | dups | webhooks/s | p50 | p90 | p99 | max | CPU: bench process / rest of machine / idle (cores) |\n")
		p("|---|---|---|---|---|---|---|---|---|---|---|\n")
		row := func(name string, t *Tally, u CPUUse) {
			p("| %s | %d | %d | %d | %d | %s | %s | %s | %s | %s | %s |\n", name, t.Sent, t.Acked, t.Rejected, t.Dups, num(t.Rate()),
				ms(t.Quantile(.5)), ms(t.Quantile(.9)), ms(t.Quantile(.99)), ms(t.Quantile(1)), cpuText(u))
		}
		row("baseline: gin, HMAC, one INSERT (pgx pool of 25)", a.Baseline, a.BaselineCPU)
		row("Doorstep `POST /webhooks/shopify`", a.Doorstep, a.DoorstepCPU)
		p("\nDoorstep's database pool during the phase: max open %d, open %d at the end, %d waits for a connection (%s), "+
			"%d connections closed because the idle pool was full.\n\n", a.Pool.MaxOpen, a.Pool.Open, a.Pool.WaitCount,
			a.Pool.WaitDuration.Round(time.Millisecond), a.Pool.MaxIdleClosed)
		rejects(w, "baseline", a.Baseline)
		rejects(w, "Doorstep", a.Doorstep)
	}
	if d := r.Drain; d != nil {
		p("**Phase 2, drain** (intake idle; after a CHECKPOINT, the worker role started: asynq server, INTAKE_CONCURRENCY %d, and the dispatcher). "+
			"%s deliveries waiting → backlog empty in %s: **%s/s** (%s/s between the first and the last processed_at). "+
			"%s orders and %s triggers in the database, %d deliveries failed. Per delivery: %s SQL statements from the worker "+
			"(BEGIN/COMMIT not counted) and %.1f PostgreSQL commits. CPU (bench process / rest of machine / idle, cores): %s.\n\n",
			r.IntakeConcurrency, num(float64(d.Backlog)), d.Elapsed.Round(time.Millisecond), num(d.Rate), num(d.Steady), num(float64(d.Orders)),
			num(float64(d.Triggers)), d.Failed, stmtsText(d.StatementsPer, r.WorkerProcess), d.CommitsPer, cpuText(d.CPU))
		p("Backlog each second: %s\n\n", curveText(d.Curve))
	}
	if x := r.Mixed; x != nil {
		t := x.Tally
		p("**Phase 3, mixed** (web and worker roles running, after a CHECKPOINT that writes out the drain's data). Open loop: %s webhooks/s on a fixed clock through %d connections; "+
			"latency runs from each request's scheduled time.\n\n", num(x.Rate), c.Clients)
		p("| sent | acked | rejected | dups | achieved/s | p50 | p90 | p99 | max | CPU: bench process / rest of machine / idle (cores) |\n")
		p("|---|---|---|---|---|---|---|---|---|---|\n")
		p("| %d | %d | %d | %d | %s | %s | %s | %s | %s | %s |\n\n", t.Sent, t.Acked, t.Rejected, t.Dups, num(t.Rate()),
			ms(t.Quantile(.5)), ms(t.Quantile(.9)), ms(t.Quantile(.99)), ms(t.Quantile(1)), cpuText(x.CPU))
		p("Backlog (stored, not yet processed) each second: %s — slope %+.1f/s; empty %s after the last send.\n\n",
			curveText(x.Curve), x.Slope, tailText(x))
		rejects(w, "Doorstep", t)
	}

	l := r.Ledger
	p("**Ledger** (all phases, warm-ups included, counted after the backlog emptied):\n\n")
	p("- Doorstep HTTP: sent %d = acked %d + rejected %d %s; %d of the sent were duplicates.\n", l.Sent, l.Acked, l.Rejected,
		check(l.Sent == l.Acked+l.Rejected), l.Dups)
	p("- deliveries rows %d = distinct event ids acked %d + stored though rejected %d %s; acked with no row: %d; rows never sent: %d.\n",
		l.Rows, l.AckedDistinct, l.StoredUnacked, check(l.Rows == l.AckedDistinct+l.StoredUnacked), l.MissingAcked, l.Unknown)
	if len(l.ByStatus) > 0 {
		p("- deliveries by status: %s.\n", statusText(l.ByStatus))
	}
	if l.Workers {
		p("- orders %d = distinct orders among the stored deliveries %d %s.\n", l.Orders, l.OrdersExpected, check(l.Orders == l.OrdersExpected))
		if l.TasksKnown {
			p("- asynq `%s` queue: %d tasks (batches of deliveries) succeeded for %d deliveries %s, %d failed attempts (retried), %d left %s.\n", "intake",
				l.TasksSucceeded, l.Rows, check(l.Rows == 0 || l.TasksSucceeded > 0), l.TasksFailed, l.TasksLeft, check(l.TasksLeft == 0))
		}
	}
	if l.Baseline {
		p("- baseline: sent %d = acked %d + rejected %d %s; rows %d = distinct acked %d %s.\n", l.BaseSent, l.BaseAcked, l.BaseRejected,
			check(l.BaseSent == l.BaseAcked+l.BaseRejected), l.BaseRows, l.BaseAckedDistinct, check(l.BaseRows == l.BaseAckedDistinct))
	}
	if len(l.Problems) > 0 {
		p("\n**VOID** — what does not balance:\n\n")
		for _, s := range l.Problems {
			p("- %s\n", s)
		}
	}
	if len(r.Warnings) > 0 {
		p("\nThe app logged %d warnings or errors; the first:\n\n```\n%s\n```\n", len(r.Warnings), strings.Join(r.Warnings, "\n"))
	}
	p("\n")
}

func rejects(w io.Writer, who string, t *Tally) {
	if t.Rejected == 0 {
		return
	}
	var parts []string
	for s, n := range t.Status {
		if s != 200 {
			parts = append(parts, fmt.Sprintf("HTTP %d × %d", s, n))
		}
	}
	for e, n := range t.Errors {
		parts = append(parts, fmt.Sprintf("%q × %d", e, n))
	}
	sort.Strings(parts)
	fmt.Fprintf(w, "%s rejects: %s.\n\n", who, strings.Join(parts, ", "))
}

func check(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func orUnknown(s string) string {
	if s == "" {
		return "(version unknown)"
	}
	return s
}

// num formats with thousands separators and no decimals.
func num(f float64) string {
	s := strconv.FormatInt(int64(f+0.5), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func pct(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }

func cpuText(u CPUUse) string {
	if !u.Known {
		return "n/a"
	}
	return fmt.Sprintf("%.2f / %.2f / %.2f", u.Self, u.Others, u.Idle)
}

func curveText(s []Sample) string {
	if len(s) == 0 {
		return "—"
	}
	const maxShown = 40
	var parts []string
	step := 1
	if len(s) > maxShown {
		step = (len(s) + maxShown - 1) / maxShown
	}
	for i := 0; i < len(s); i += step {
		parts = append(parts, num(float64(s[i].Pending)))
	}
	if (len(s)-1)%step != 0 {
		parts = append(parts, num(float64(s[len(s)-1].Pending)))
	}
	return strings.Join(parts, " → ")
}

func maxPending(s []Sample) int64 {
	var m int64
	for _, x := range s {
		m = max(m, x.Pending)
	}
	return m
}

func tailText(x *MixedResult) string {
	if !x.TailDone {
		return "never (timed out)"
	}
	return x.Tail.Round(time.Millisecond).String()
}

func statusText(m map[string]int64) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// stmtsText is the statements per delivery, which only an in-process
// worker role can count.
func stmtsText(per float64, workerProcess bool) string {
	if workerProcess {
		return "(not counted: the worker runs in its own process)"
	}
	return strconv.FormatFloat(per, 'f', 1, 64)
}
