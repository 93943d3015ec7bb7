//go:build unix && !linux

package jobstest

import "syscall"

// sysProcAttr puts redis-server in its own process group. Without Linux's
// Pdeathsig, a test binary killed before Close leaves the server running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
