//go:build unix

package limit

import "syscall"

// peerClosed reports whether the other end closed the connection on raw,
// or it failed: a read that peeks without waiting (Go's sockets do not
// block) finds the end of the stream or an error. Bytes waiting there (a
// TLS record the server sent after the handshake) stay for the connection
// to read.
func peerClosed(raw syscall.RawConn) bool {
	var closed bool
	err := raw.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
		switch {
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK || err == syscall.EINTR:
		case err != nil || n == 0:
			closed = true
		}
		return true
	})
	return closed || err != nil
}
