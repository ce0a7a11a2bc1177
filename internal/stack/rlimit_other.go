//go:build !unix

package stack

func openFileLimit() (uint64, bool) { return 0, false }
