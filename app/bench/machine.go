package bench

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Machine describes where the numbers were taken.
type Machine struct {
	CPU        string
	Cores      int
	GOMAXPROCS int
	Go         string
	OS         string
	Postgres   string
	Redis      string
}

func machine() Machine {
	m := Machine{CPU: "unknown", Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// cpuSample is the machine's CPU time (from /proc/stat) and this
// process's (getrusage) at one moment, so a phase can say where the CPU
// went: the bench process (app + load generator) or everything else on
// the machine (PostgreSQL, Redis).
type cpuSample struct {
	at          time.Time
	total, idle float64 // machine, seconds of CPU
	self        float64 // this process, seconds of CPU
	ok          bool
}

// sampleCPU samples the machine and this process; children are the pids of
// processes the bench started whose CPU counts as its own (a worker role
// run as its own process).
func sampleCPU(children ...int) cpuSample {
	s := cpuSample{at: time.Now()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.self = tv(ru.Utime) + tv(ru.Stime)
	}
	for _, pid := range children {
		c, _ := procCPU(pid) // 0 once it is gone
		s.self += c
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return s
	}
	const hz = 100.0 // USER_HZ on Linux
	for i, v := range f[1:] {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			continue
		}
		if i >= 7 { // steal, guest… : guest time is already in user
			if i == 7 {
				s.total += n / hz
			}
			continue
		}
		s.total += n / hz
		if i == 3 || i == 4 { // idle, iowait
			s.idle += n / hz
		}
	}
	s.ok = true
	return s
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// CPUUse is how busy the machine's cores were during a phase, in cores.
type CPUUse struct {
	Self, Others, Idle float64 // cores: this process, the rest of the machine, idle
	Known              bool
}

func cpuBetween(a, b cpuSample) CPUUse {
	wall := b.at.Sub(a.at).Seconds()
	if !a.ok || !b.ok || wall <= 0 {
		return CPUUse{}
	}
	self := (b.self - a.self) / wall
	busy := ((b.total - a.total) - (b.idle - a.idle)) / wall
	others := busy - self
	if others < 0 {
		others = 0
	}
	return CPUUse{Self: self, Others: others, Idle: (b.idle - a.idle) / wall, Known: true}
}

// procCPU is a process's user + system CPU seconds from /proc/<pid>/stat.
func procCPU(pid int) (float64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 > len(b) {
		return 0, false
	}
	f := strings.Fields(string(b[i+2:])) // from field 3 (state) on
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const hz = 100.0 // USER_HZ on Linux
	return (utime + stime) / hz, true
}
