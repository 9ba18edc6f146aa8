//go:build !linux

package tracer

// MaybeStage2 does nothing off Linux: there is no stage 2.
func MaybeStage2() {}
