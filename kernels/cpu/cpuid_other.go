//go:build !amd64

package cpu

func hasAVX2FMA() bool { return false }
