package services

import "syscall"

// sysProcAttr puts the child in its own process group and asks the kernel to
// signal it when the parent dies. Go sets the parent-death signal after
// switching credentials, so it survives the switch to an unprivileged user.
func sysProcAttr(cred *syscall.Credential, deathSig syscall.Signal) *syscall.SysProcAttr {
	if deathSig == 0 {
		deathSig = syscall.SIGKILL
	}
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: deathSig, Credential: cred}
}
