//go:build !linux

package procfs

// Task names the thread whose view a path is resolved in.
type Task struct{ PID, TID int }
