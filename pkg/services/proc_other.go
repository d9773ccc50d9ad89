//go:build unix && !linux

package services

import "syscall"

// sysProcAttr puts the child in its own process group. Outside Linux there is
// no parent-death signal: a killed parent may leave the child running.
func sysProcAttr(cred *syscall.Credential, _ syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: cred}
}
