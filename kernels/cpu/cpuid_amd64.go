package cpu

import "golang.org/x/sys/cpu"

func hasAVX2FMA() bool { return cpu.X86.HasAVX2 && cpu.X86.HasFMA }
