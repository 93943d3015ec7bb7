//go:build linux

package jobstest

import "syscall"

// sysProcAttr puts redis-server in its own process group and has the kernel
// kill it if the test binary dies without calling Close (go test -timeout
// panics, SIGKILL), so no orphaned servers pile up.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
