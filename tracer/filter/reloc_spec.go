package filter

// Rules for argument relocation (tracer/reloc, issue 9) and for the mount and
// namespace refusals. They are data like spec.go; Rules() includes them.
//
// If you change these, also change tracer/reloc (Block, Fd, Touches: the
// tracer must refuse every memory call the filter sends it that meets the
// block) and reloc_linux_test.go.

const (
	// relocBlock must equal reloc.Block (a test checks it): the 4 GiB block
	// whose middle holds the read-only argument region in every tracee.
	relocBlock = 0x3b1e
	// relocFd must equal reloc.Fd: the region memfd's descriptor number.
	relocFd = 63
	// relocReach is the smallest length that could reach the region from
	// below its block: it sits 2 GiB into the block.
	relocReach = 1 << 31
	// relocSize must equal reloc.Size, and regionProt and regionFlags the
	// protection and flags the tracer maps the region with.
	relocSize   = 32 << 20
	regionProt  = 0x1      // PROT_READ
	regionFlags = 0x100001 // MAP_SHARED | MAP_FIXED_NOREPLACE

	errEBADF Errno = 9

	fSetfd  = 2      // F_SETFD
	fioclex = 0x5451 // FIOCLEX

	cloneNewNS   = 0x00020000 // CLONE_NEWNS
	cloneNewUser = 0x10000000 // CLONE_NEWUSER

	mask32   = 0xffffffff         // int and unsigned int arguments: the kernel ignores the upper half
	maskHigh = 0xffffffff00000000 // an address's 4 GiB block
)

// GreaterEqual matches when arg >= Value (unsigned, 64-bit); NotEqual when
// arg != Value.
const (
	GreaterEqual = Equal + 1 + iota
	NotEqual
)

// inBlock matches an address argument inside the relocation block.
func inBlock(arg uint) []Cond {
	return []Cond{{Arg: arg, Op: MaskedEqual, Mask: maskHigh, Value: uint64(relocBlock) << 32}}
}

// reaching matches a length argument long enough to reach the region from
// below the block.
func reaching(arg uint) []Cond {
	return []Cond{{Arg: arg, Op: GreaterEqual, Value: relocReach}}
}

func isRelocFd(arg uint) Cond {
	return Cond{Arg: arg, Op: MaskedEqual, Mask: mask32, Value: relocFd}
}

// relocRules keeps the region mapped and its descriptor open.
//
// Memory calls stop in the tracer only when they could touch the block: an
// address in it, or a length of 2 GiB or more (a range starting below the
// block needs more than 2 GiB to reach the region). Everything else — the
// millions of mmaps a JIT or allocator makes — runs at native speed.
var relocRules = func() []Rule {
	var rs []Rule
	why := "could map over or unmap the argument region: the tracer refuses it if it meets the block"
	// One mmap in the block runs untrapped: the region's own, as the tracer
	// makes it (the exec-time stub, tracer/reloc/stub_linux_amd64.go), so
	// mapping it costs a new image no stop. Anyone may make that call: it
	// never replaces a mapping (MAP_FIXED_NOREPLACE) and maps only the
	// region, read-only, which the app could read anyway. Every other
	// argument value traps, one rule per argument (conditions are ANDed).
	// The address is only held to the block: libseccomp takes one check per
	// argument, and a second read-only view of the region elsewhere in the
	// block can do no more than the first (it stays read-only, and nothing
	// in the block can be unmapped, moved or made writable).
	for _, c := range []Cond{
		{Arg: 1, Op: NotEqual, Value: relocSize},
		{Arg: 2, Op: NotEqual, Value: regionProt},
		{Arg: 3, Op: NotEqual, Value: regionFlags},
		{Arg: 4, Op: NotEqual, Value: relocFd},
		{Arg: 5, Op: NotEqual, Value: 0},
	} {
		rs = append(rs, Rule{Syscall: "mmap", Action: Trace, Conds: append(inBlock(0), c), Why: why})
	}
	rs = append(rs, Rule{Syscall: "mmap", Action: Trace, Conds: reaching(1), Why: why})
	for _, sc := range []string{"mprotect", "munmap", "madvise", "pkey_mprotect", "remap_file_pages"} {
		rs = append(rs,
			Rule{Syscall: sc, Action: Trace, Conds: inBlock(0), Why: why},
			Rule{Syscall: sc, Action: Trace, Conds: reaching(1), Why: why})
	}
	rs = append(rs,
		Rule{Syscall: "mremap", Action: Trace, Conds: inBlock(0), Why: why},
		Rule{Syscall: "mremap", Action: Trace, Conds: inBlock(4), Why: why + " (new_address)"},
		Rule{Syscall: "mremap", Action: Trace, Conds: reaching(1), Why: why},
		Rule{Syscall: "mremap", Action: Trace, Conds: reaching(2), Why: why + " (grows in place)"},
		Rule{Syscall: "shmat", Action: Trace, Conds: inBlock(1), Why: why},
		Rule{Syscall: "shmat", Action: Trace,
			Conds: []Cond{{Arg: 2, Op: MaskedEqual, Mask: shmRemap, Value: shmRemap}},
			Why:   "SHM_REMAP replaces whatever lies under a segment whose size is not an argument"},

		// The descriptor the tracer maps the region from after every exec.
		// Daemons close every descriptor they did not open; the region's
		// survives by pretending.
		Rule{Syscall: "close", Action: ErrnoAction, Errno: 0, Conds: []Cond{isRelocFd(0)},
			Why: "keep the region's descriptor: pretend it was closed"},
		Rule{Syscall: "dup2", Action: ErrnoAction, Errno: 0, Conds: []Cond{isRelocFd(1)},
			Why: "keep the region's descriptor: pretend it was replaced"},
		Rule{Syscall: "dup3", Action: ErrnoAction, Errno: 0, Conds: []Cond{isRelocFd(1)},
			Why: "keep the region's descriptor: pretend it was replaced"},
		Rule{Syscall: "fcntl", Action: ErrnoAction, Errno: 0,
			Conds: []Cond{isRelocFd(0), {Arg: 1, Op: MaskedEqual, Mask: mask32, Value: fSetfd}},
			Why:   "FD_CLOEXEC would drop the descriptor at the next exec"},
		Rule{Syscall: "ioctl", Action: ErrnoAction, Errno: 0,
			Conds: []Cond{isRelocFd(0), {Arg: 1, Op: MaskedEqual, Mask: mask32, Value: fioclex}},
			Why:   "FIOCLEX would drop the descriptor at the next exec"},
		// BPF cannot mask-and-compare a range cheaply, and "success" would
		// leave every other descriptor open; ENOSYS (a pre-5.9 kernel) makes
		// glibc's closefrom, CPython and systemd close one by one instead,
		// where only the region's close is faked.
		Rule{Syscall: "close_range", Action: ErrnoAction, Errno: errENOSYS,
			Why: "callers fall back to close(), which keeps the region's descriptor"},
	)
	return rs
}()

const shmRemap = 0x4000 // SHM_REMAP

// nsRefused are the mount and namespace calls: a private mount namespace
// lets the app bind-mount a protected file under an unprotected name, and a
// user namespace gives it the capabilities to do so.
var nsRefused = func() []Rule {
	var rs []Rule
	for _, sc := range []string{"mount", "open_tree", "move_mount", "fsopen", "fsmount", "fsconfig", "fspick", "pivot_root", "setns"} {
		rs = append(rs, Rule{Syscall: sc, Action: ErrnoAction, Errno: errEPERM,
			Why: "mounts rename files under the policy's feet (bind mounts)"})
	}
	for _, sc := range []string{"unshare", "clone"} {
		rs = append(rs,
			Rule{Syscall: sc, Action: ErrnoAction, Errno: errEPERM,
				Conds: []Cond{{Arg: 0, Op: MaskedEqual, Mask: cloneNewUser, Value: cloneNewUser}},
				Why:   "a user namespace grants CAP_SYS_ADMIN over new mount namespaces"},
			Rule{Syscall: sc, Action: ErrnoAction, Errno: errEPERM,
				Conds: []Cond{{Arg: 0, Op: MaskedEqual, Mask: cloneNewNS, Value: cloneNewNS}},
				Why:   "a private mount namespace is where bind mounts would hide"})
	}
	return rs
}()

// RelocRules returns the relocation rules (a fresh slice).
func RelocRules() []Rule { return append([]Rule(nil), relocRules...) }

// NamespaceRules returns the mount and namespace refusals (a fresh slice).
func NamespaceRules() []Rule { return append([]Rule(nil), nsRefused...) }
