//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package chatcli

// HideControlEcho does nothing here: this system's terminals are not
// driven through termios.
func HideControlEcho(fd int) (restore func()) { return func() {} }
