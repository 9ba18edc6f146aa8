package reloc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/bluelock/bluelock/tracer/procfs"
	"github.com/bluelock/bluelock/tracer/sys"
)

// Mapping the region at exec, without a stop of its own.
//
// Inject maps the region from a seccomp stop: the injected mmap's exit is
// one more stop, the original call's re-trap another, and that call is
// decided twice. A new image has a better moment: its PTRACE_EVENT_EXEC
// stop, when it has run no instruction yet. There is no syscall
// instruction to borrow there (rip is the new entry point), and a changed
// rax would not survive (execve's return value is stored after the event),
// so the tracer writes a stub of its own into the new vDSO and starts the
// thread in it:
//
//	mov  eax, SYS_mmap       ; the arguments are set in registers
//	syscall                  ; the filter lets exactly this mmap through
//	cmp  rax, rdi            ; mapped at Addr?
//	je   ok
//	int3                     ; no: stop with SIGTRAP, rip just past here
//	ok: xor every register execve zeroed (rax rcx rdx rsi rdi r8-r11)
//	push rbx                 ; rbx holds the entry point; the stack
//	xor  ebx, ebx            ; below rsp is free at entry
//	ret
//
// So the thread reaches its entry point with the registers exec gave it
// (the ABI asks rdx = 0, or glibc registers it with atexit) and the region
// mapped, and the tracer saw no stop for it. Only a failed mmap stops.
//
// Where in the vDSO: past the end of its ELF contents (the section headers
// come last), in the zero padding up to its last page's end. The kernel maps
// the same 64-bit vDSO image into every process, so the place is found once,
// in the tracer's own vDSO (FindStub), and checked to be zero in each
// tracee before it is written. The forced write (PTRACE_POKEDATA) gives
// the tracee a private copy of that page; nothing else in the vDSO
// changes, and nothing reads the padding. The stub stays there
// after use: jumping into it does nothing the app could not do itself (the
// filter lets anyone make the region's mmap, which cannot replace a
// mapping).
var stubCode = [stubSize]byte{
	0xb8, unix.SYS_MMAP, 0, 0, 0, // mov eax, 9
	0x0f, 0x05, // syscall
	0x48, 0x39, 0xf8, // cmp rax, rdi
	0x74, 0x01, // je +1
	0xcc,       // int3
	0x31, 0xc0, // xor eax, eax
	0x31, 0xc9, // xor ecx, ecx
	0x31, 0xd2, // xor edx, edx
	0x31, 0xf6, // xor esi, esi
	0x31, 0xff, // xor edi, edi
	0x45, 0x31, 0xc0, // xor r8d, r8d
	0x45, 0x31, 0xc9, // xor r9d, r9d
	0x45, 0x31, 0xd2, // xor r10d, r10d
	0x45, 0x31, 0xdb, // xor r11d, r11d
	0x53,       // push rbx
	0x31, 0xdb, // xor ebx, ebx
	0xc3, // ret
	0,    // padding to whole words (POKEDATA writes words)
}

const (
	stubSize = 40
	// stubTrapped is rip at the int3's SIGTRAP: just past it.
	stubTrapped = 13
	userCS      = 0x33 // __USER_CS: a 64-bit process
)

// Stub is where the exec-time stub goes in a tracee's vDSO.
type Stub struct {
	off uint64 // from the vDSO's start
}

// FindStub finds room for the stub in this process's vDSO: stubSize zero
// bytes at the end of its last page, past its ELF header, program headers,
// loaded segments and section headers.
func FindStub(p procfs.Proc) (*Stub, error) {
	base, err := p.VDSO(os.Getpid())
	if err != nil {
		return nil, fmt.Errorf("find vDSO: %w", err)
	}
	if base == 0 {
		return nil, errors.New("no vDSO (vdso=0?)")
	}
	mem, err := os.Open(p.Mount + "/self/mem")
	if err != nil {
		return nil, fmt.Errorf("read own vDSO: %w", err)
	}
	defer mem.Close()
	hdr := make([]byte, 4096) // the header and program headers lie in the first page
	if _, err := mem.ReadAt(hdr, int64(base)); err != nil {
		return nil, fmt.Errorf("read own vDSO at %#x: %w", base, err)
	}
	end, err := elfEnd(hdr)
	if err != nil {
		return nil, fmt.Errorf("own vDSO: %w", err)
	}
	off := (end+4095)&^4095 - stubSize
	if off < end {
		return nil, fmt.Errorf("own vDSO: no %d bytes of padding after its contents (they end at %#x)", stubSize, end)
	}
	tail := make([]byte, stubSize)
	if _, err := mem.ReadAt(tail, int64(base+off)); err != nil {
		return nil, fmt.Errorf("read own vDSO padding: %w", err)
	}
	if !zero(tail) {
		return nil, fmt.Errorf("own vDSO: the bytes at %#x are not padding", off)
	}
	return &Stub{off: off}, nil
}

// elfEnd is where the contents of an ELF64 image end, from its header and
// the program headers that follow it in hdr.
func elfEnd(hdr []byte) (uint64, error) {
	le := binary.LittleEndian
	if len(hdr) < 64 || string(hdr[:4]) != "\x7fELF" || hdr[4] != 2 || hdr[5] != 1 {
		return 0, errors.New("not a little-endian ELF64 image")
	}
	phoff, shoff := le.Uint64(hdr[0x20:]), le.Uint64(hdr[0x28:])
	phent, phnum := uint64(le.Uint16(hdr[0x36:])), uint64(le.Uint16(hdr[0x38:]))
	shent, shnum := uint64(le.Uint16(hdr[0x3a:])), uint64(le.Uint16(hdr[0x3c:]))
	end := max(uint64(64), phoff+phent*phnum, shoff+shent*shnum)
	if phent < 56 || phoff+phent*phnum > uint64(len(hdr)) {
		return 0, errors.New("program headers outside the first page")
	}
	for i := uint64(0); i < phnum; i++ {
		ph := hdr[phoff+i*phent:]
		if le.Uint32(ph) == 1 { // PT_LOAD
			end = max(end, le.Uint64(ph[8:])+le.Uint64(ph[32:])) // p_offset + p_filesz
		}
	}
	return end, nil
}

func zero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Started is a thread sent into the stub from its exec stop.
type Started struct {
	at    uint64          // the stub in the thread's vDSO
	saved unix.PtraceRegs // the registers exec left
}

// Start writes the stub into the vDSO of tid, which is in its
// PTRACE_EVENT_EXEC stop, and points tid's registers at it, with the mmap's
// arguments. The caller then resumes tid: it maps the region and runs on
// into its program without a stop, or stops with SIGTRAP (Trapped) if the
// mmap failed. On error tid is as it was, and Inject remains.
//
// Precondition: called on the tracer's locked OS thread; tid is in its
// exec stop, the only thread of its process (so its tid is the pid that
// proc names).
func (s *Stub) Start(tid int, proc procfs.Proc) (*Started, error) {
	st := &Started{}
	if err := unix.PtraceGetRegs(tid, &st.saved); err != nil {
		return nil, fmt.Errorf("exec stub: getregs %d: %w", tid, err)
	}
	if st.saved.Cs != userCS {
		return nil, fmt.Errorf("exec stub: %d runs a 32-bit image", tid)
	}
	vdso, err := vdsoFromStack(tid, st.saved.Rsp)
	if err != nil {
		// The vector lies beyond what we read (a huge argv or environment).
		vdso, err = proc.VDSO(tid)
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("exec stub: vDSO of %d: %w", tid, err)
	case vdso == 0:
		return nil, fmt.Errorf("exec stub: %d has no vDSO", tid)
	}
	st.at = vdso + s.off
	tail := make([]byte, stubSize)
	if err := sys.ReadMem(tid, uintptr(st.at), tail); err != nil {
		return nil, fmt.Errorf("exec stub: vDSO of %d: %w", tid, err)
	}
	if !zero(tail) {
		// Not the vDSO we measured (another kernel's image would not be
		// ours to scribble on).
		return nil, fmt.Errorf("exec stub: vDSO of %d at %#x: no padding at %#x", tid, vdso, st.at)
	}
	// A forced write, not process_vm_writev: the vDSO is not writable, and
	// only a forced write breaks copy-on-write for it. Five POKEDATA
	// requests, not one pwrite of /proc/<pid>/mem: that costs an open and
	// a close of a new process's proc file too, and measured twice as long
	// at the exec stop on the bench VM (9.6 against 4.6 µs on one CPU,
	// 11.7 against 6.6 on two; docs/benchmarks.md).
	if err := sys.WriteMem(tid, uintptr(st.at), stubCode[:]); err != nil {
		return nil, fmt.Errorf("exec stub: write into %d: %w", tid, err)
	}
	in := st.saved
	in.Rip, in.Rbx = st.at, st.saved.Rip
	in.Rdi, in.Rsi, in.Rdx = Addr, Size, unix.PROT_READ
	in.R10, in.R8, in.R9 = unix.MAP_SHARED|unix.MAP_FIXED_NOREPLACE, Fd, 0
	if err := unix.PtraceSetRegs(tid, &in); err != nil {
		return nil, fmt.Errorf("exec stub: setregs %d: %w", tid, err)
	}
	return st, nil
}

// vdsoFromStack reads AT_SYSINFO_EHDR from the auxiliary vector exec left
// on the new stack at sp: argc, argv[argc], NULL, envp..., NULL, then the
// vector's pairs (fs/binfmt_elf.c create_elf_tables). One read of the
// stack, where /proc/<pid>/auxv costs an open, a read and a close: 18 µs
// against about 2 at the exec stop on the bench VM. It gives up past
// stackScan bytes.
func vdsoFromStack(tid int, sp uint64) (uint64, error) {
	var words []uint64
	buf := make([]byte, 1024)
	word := func(i uint64) (uint64, error) {
		for i >= uint64(len(words)) {
			at := sp + 8*uint64(len(words))
			if at-sp >= stackScan {
				return 0, errors.New("auxv not within the stack's first bytes")
			}
			n := min(uint64(len(buf)), 4096-at%4096) // one page at a time: the stack may end there
			if err := sys.ReadMem(tid, uintptr(at), buf[:n]); err != nil {
				return 0, err
			}
			for b := buf[:n]; len(b) >= 8; b = b[8:] {
				words = append(words, binary.LittleEndian.Uint64(b))
			}
		}
		return words[i], nil
	}
	argc, err := word(0)
	if err != nil {
		return 0, err
	}
	i := 1 + argc + 1 // past argv and its NULL
	for {             // past envp and its NULL
		w, err := word(i)
		if err != nil {
			return 0, err
		}
		i++
		if w == 0 {
			break
		}
	}
	for ; ; i += 2 {
		k, err := word(i)
		if err != nil {
			return 0, err
		}
		v, err := word(i + 1)
		if err != nil {
			return 0, err
		}
		switch k {
		case procfs.AtSysinfoEhdr:
			return v, nil
		case 0: // AT_NULL
			return 0, nil
		}
	}
}

const stackScan = 64 << 10

// Trapped tells whether tid's SIGTRAP stop is the stub's int3, reached
// when the mmap failed (why says how). Then it has put the registers exec
// left back, with rax = 0 as execve returns, outside any syscall: to the
// program, the stub never ran. err means ptrace failed; tid is as it was.
//
// Precondition: called on the tracer's locked OS thread; tid is in a
// SIGTRAP signal-delivery stop.
func (st *Started) Trapped(tid int) (trapped bool, why, err error) {
	var r unix.PtraceRegs
	if err := unix.PtraceGetRegs(tid, &r); err != nil {
		return false, nil, fmt.Errorf("exec stub: getregs %d: %w", tid, err)
	}
	if r.Rip != st.at+stubTrapped {
		return false, nil, nil
	}
	switch ret := int64(r.Rax); {
	case ret == -int64(unix.EEXIST):
		why = ErrTaken
	case ret < 0 && ret > -4096:
		why = fmt.Errorf("mmap: %w", unix.Errno(-ret))
	default:
		why = fmt.Errorf("mmap returned %#x, not %#x", r.Rax, Addr)
	}
	back := st.saved
	back.Rax, back.Orig_rax = 0, ^uint64(0)
	if err := unix.PtraceSetRegs(tid, &back); err != nil {
		return true, why, fmt.Errorf("exec stub: restore %d: %w", tid, err)
	}
	return true, why, nil
}
