//go:build !unix

package limit

import "syscall"

// peerClosed cannot tell here whether the other end closed the connection;
// a connection idle longer than redisPingIdle is PINGed instead.
func peerClosed(syscall.RawConn) bool { return false }
