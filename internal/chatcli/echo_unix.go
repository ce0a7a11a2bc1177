//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package chatcli

import "golang.org/x/sys/unix"

// HideControlEcho stops the terminal on fd from echoing control characters
// as ^C, ^\ and the like (ECHOCTL), and returns the function that puts it
// back as it was. A terminal echoes Ctrl-C where its cursor is, which in a
// chat is the middle of an answer; the chat says itself that it stopped.
// It does nothing where fd is no terminal.
func HideControlEcho(fd int) (restore func()) {
	t, err := unix.IoctlGetTermios(fd, getTermios)
	if err != nil || t.Lflag&unix.ECHOCTL == 0 {
		return func() {}
	}
	was := *t
	t.Lflag &^= unix.ECHOCTL
	if err := unix.IoctlSetTermios(fd, setTermios, t); err != nil {
		return func() {}
	}
	return func() { _ = unix.IoctlSetTermios(fd, setTermios, &was) }
}
