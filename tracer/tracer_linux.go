//go:build amd64

package tracer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/tracer/procfs"
	"github.com/bluelock/bluelock/tracer/reloc"
	"github.com/bluelock/bluelock/tracer/sys"
)

// process is what we cache about one thread group.
type process struct {
	pid, ppid, uid int
	exe            string
	parentExe      string // the parent's exe when we met the process
	// preFilter: stage 2 before its filter exists (no seccomp stop yet).
	preFilter bool
	region    regionState
	// ppidStale: the parent exited since ppid was read (refreshPPid).
	ppidStale bool
	// credsChanged: a thread of the process made a setuid-family call.
	// Credentials are per thread, so uid (the latest such call's) may not
	// be every thread's; a child then takes its own from /proc (childOf).
	credsChanged bool
	// pidfd is the process's pidfd, opened at its first socket question
	// (memReader.Socket) and closed when it is gone; -1 until then. One per
	// question cost 123.2 against 111.9 µs per logged socket+connect+accept
	// on one CPU (medians of 9 interleaved pairs).
	pidfd int
	// mappedAt is the stop count (tracer.stops) when region became
	// regionMapped: the region was in the address space by then.
	mappedAt uint64
	// ownFilter: the process (or an ancestor) stacked a seccomp filter of
	// its own, which would see pinned opens as openat2 (pin_linux_amd64.go).
	ownFilter bool
	// exeLooked: /proc/<pid>/exe has been read or queued to be (warmExes),
	// so the exec stop's read of it is cheap.
	exeLooked bool
}

// thread is one traced task.
type thread struct {
	tid  int
	proc *process
	// stoppedAt is the stop count (tracer.stops) of this thread's latest
	// stop: whatever it does next, it does after that.
	stoppedAt uint64
	// pending is a decided syscall waiting for its result (exit stop, or the
	// exec event for execve).
	pending *pendingCall
	// uidAtExit: an allowed setuid-family call is running; at its exit stop
	// the process's uid is read again, so later decisions use the current one.
	uidAtExit bool
	// filterAtExit: a seccomp filter install is running; if it succeeds the
	// process has a filter of its own (process.ownFilter).
	filterAtExit bool
	// serialAtExit: this thread's call is the one in flight (tracer.inflight);
	// its exit stop ends that (serial_linux.go).
	serialAtExit bool
	// cwdAtExit: a chdir or fchdir is running; its end, like its start,
	// makes every kept working directory stale (tracer.cwdOf).
	cwdAtExit bool
	// cwd is this thread's working directory as of tracer.cwdGen cwdGen
	// (cwdOf).
	cwd    string
	cwdGen uint64
	// stub is set from the exec stop that started this thread in the
	// region's exec-time stub until its next stop tells how that went
	// (stubStop), and stubAt is that exec stop's number.
	stub   *reloc.Started
	stubAt uint64
}

type pendingCall struct {
	ev    Event
	alert bool
	// acceptAddr is accept's output sockaddr in the tracee (call.acceptAddr).
	acceptAddr uint64
}

// tracer is the state of one Run. All of it is owned by the stop loop.
type tracer struct {
	cfg    Config
	log    *slog.Logger
	proc   procfs.Proc
	stats  *Stats
	spin   spinner // whether the stop loop polls (spin.go)
	thr    map[int]*thread
	procs  map[int]*process
	appPid int
	// exit is the app's exit code, valid once appDone.
	exit    int
	appDone bool
	self    string // our own exe, the "caller" of the app's first exec
	// region holds checked arguments where the app cannot write them
	// (relocate_linux_amd64.go); slots gives each thread its part.
	region *reloc.Region
	slots  reloc.Slots
	// stub maps the region into a new image from its exec stop
	// (mapAtExec); nil where the vDSO has no room for it.
	stub *reloc.Stub
	// protected are the control ports tracees may not connect to locally.
	protected protectedPorts
	// rootsShared holds while no tracee has made a chroot call: every tracee
	// then has our root (stage 2 inherits it; the filter refuses mounts,
	// pivot_root, setns and new mount namespaces, the other ways to change
	// what "/" means), so paths are looked up directly rather than through
	// /proc/<tid>/root. It turns false for good at the first chroot entry
	// stop, before that chroot can take effect, so no lookup ever uses a
	// stale root.
	rootsShared bool
	// pin says whether allowed opens are pinned (pin_linux_amd64.go).
	pin pinConfig
	// inflight is the thread whose serialized path call is between its
	// check and its exit stop (0: none), and parked the threads whose
	// serialized calls wait, in their seccomp stops, to be decided after it
	// (serial_linux.go).
	inflight int
	parked   []int
	// reader, capture and call are the decoder's, reused by every seccomp
	// stop (the loop decides one call at a time; nothing keeps a call past
	// its stop).
	reader  memReader
	capture capture
	call    call
	// stops counts the stops handled, to order what the tracer learnt
	// against what a tracee did since its last stop (inheritRegion).
	stops uint64
	// warm are processes on their way through an allowed exec whose
	// /proc/<pid>/exe the loop reads while it has nothing else to do
	// (warmExes). warmOn: there is more than one CPU; on one, the read
	// would only run ahead of the exec it then waits for.
	warm   []int
	warmOn bool
	// cwdGen changes whenever a traced call may have moved a working
	// directory or renamed one (cwdOf). It starts at 1: a thread's cwdGen
	// of 0 means nothing kept.
	cwdGen uint64
}

// Run starts cfg.Args under the tracer and returns the app's exit code once
// the app's main process has exited (128+N when killed by signal N). An
// error means the app could not be started under enforcement; it never ran.
//
// How: the stage-2 child (this binary re-executed) waits on a pipe; we
// PTRACE_SEIZE it, then release it; it loads the filter and execs the app.
// Every ptrace and wait4 call happens on this goroutine's locked OS thread.
func Run(ctx context.Context, cfg Config) (int, error) {
	if len(cfg.Args) == 0 {
		return 0, errors.New("no command to run")
	}
	cfg.setDefaults()
	// Precondition for everything below: ptrace requests must come from the
	// thread that attached, so this goroutine owns its thread until Run ends.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	t := &tracer{
		cfg:         cfg,
		log:         cfg.Logger,
		proc:        procfs.Proc{Mount: cfg.Proc, RootLinks: &procfs.RootLinks{}},
		stats:       cfg.Stats,
		protected:   newProtectedPorts(cfg.ProtectedPorts),
		thr:         map[int]*thread{},
		procs:       map[int]*process{},
		rootsShared: true,
		cwdGen:      1,
	}
	t.self, _ = os.Executable()

	if os.Getpid() != 1 {
		// Not PID 1 (tests, or a runtime's own init): become the subreaper so
		// orphans of the app are reparented to us and reaped by wait4(-1).
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			t.log.Warn("cannot become child subreaper; orphans go to init", "err", err)
		}
	}

	// Stops and exits reach us through wait4; SIGCHLD would only wake a
	// runtime thread for nothing on every stop (sys.QuietChildStops).
	if restore, err := sys.QuietChildStops(); err != nil {
		t.log.Warn("SIGCHLD stays with the Go runtime; every stop costs an extra wake-up", "err", err)
	} else {
		defer func() { _ = restore() }()
	}

	region, err := reloc.New()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errNoRegion, err)
	}
	defer region.Close()
	t.region = region
	if t.stub, err = reloc.FindStub(t.proc); err != nil {
		// Then every new image maps the region at its first relocatable
		// call (reloc.Inject): two more stops per exec.
		t.log.Info("the argument region is mapped lazily after each exec", "err", err)
	}
	pin, perr := probePin(t.proc)
	t.proc.Openat2 = perr == nil // path lookups may take its shortcut
	switch {
	case cfg.NoPin:
		t.log.Info("opens are not pinned (--pin-opens=false): a symlink swapped in after the check can redirect an allowed open")
	case perr != nil:
		t.log.Warn("opens cannot be pinned; a symlink swapped in after the check can redirect an allowed open", "err", perr)
	default:
		t.pin = pin
	}

	pid, err := t.start()
	if err != nil {
		return 0, err
	}
	t.appPid = pid

	done := make(chan struct{})
	defer close(done)
	go forwardSignals(ctx, pid, cfg.Signals, done, t.log)

	code, err := t.loop()
	t.killRemaining()
	for _, p := range t.procs {
		p.closePidfd()
	}
	return code, err
}

// start launches stage 2 and seizes it before it may do anything.
//
// Precondition: runs on the tracer's locked OS thread.
func (t *tracer) start() (int, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("stage 2 sync pipe: %w", err)
	}
	defer r.Close()
	defer w.Close()
	env := append(withoutStage2(t.cfg.Env), stage2Env+"="+strconv.Itoa(stage2SyncFd))
	argv := append([]string{"bluelock-stage2"}, t.cfg.Args...)
	p, err := os.StartProcess(t.cfg.Self, argv, &os.ProcAttr{
		Env: env,
		// r becomes fd 3; the region fd 4, which stage 2 moves to reloc.Fd.
		Files: []*os.File{t.cfg.Stdin, t.cfg.Stdout, t.cfg.Stderr, r, t.region.File()},
	})
	if err != nil {
		return 0, fmt.Errorf("start stage 2 (%s): %w", t.cfg.Self, err)
	}
	pid := p.Pid
	// We reap with wait4 ourselves; let os.Process drop its pidfd.
	_ = p.Release()
	if err := sys.Seize(pid); err != nil {
		_ = unix.Kill(pid, unix.SIGKILL)
		// Closing w (deferred) makes stage 2 read EOF and exit too.
		return 0, fmt.Errorf("seize stage 2: %w", err)
	}
	t.stats.Tracees.Add(1)
	t.stats.TraceesTotal.Add(1)
	// We may seize stage 2 while the kernel is still finishing its exec of
	// this binary (a vfork parent is released before PTRACE_EVENT_EXEC), so
	// that exec can be reported to us: it is not the app's (preFilter).
	t.thread(pid).proc.preFilter = true
	// Only now may stage 2 go on: it is traced, every new thread and child
	// will be, and its filter's RET_TRACE stops will come to us.
	if _, err := w.Write([]byte{1}); err != nil {
		_ = unix.Kill(pid, unix.SIGKILL)
		return 0, fmt.Errorf("release stage 2: %w", err)
	}
	return pid, nil
}

// schedEvery is how often the stop loop passes through the Go scheduler.
//
// The loop's goroutine, locked to its thread, makes syscalls and never
// blocks in the scheduler, so the runtime sees it run on one scheduling
// tick for ever. Once a goroutine has had 10 ms without a new tick, sysmon
// (the runtime's monitor thread) preempts it and takes its P at every
// pass, and each such retake sets sysmon back to its shortest sleep
// (20 µs): a busy tracer kept sysmon waking 2,500 times a second on the
// bench VM, a halted vCPU's wake-up each time, and the preemption's
// handoff on the tracer's own thread. A Gosched (one handoff, 200 a
// second at most) gives the tick sysmon looks for, and it backs off to
// its longest sleep (10 ms), about 130 wake-ups a second. Measured
// against the loop without it, on 2 vCPUs (docs/benchmarks.md): an open
// loop 3.6 % faster per call (15 of 21 interleaved rounds), the shell job
// 2.3 % (16 of 21).
const schedEvery = 5 * time.Millisecond

// loop is the stop loop: wait for the next stop or exit and handle it.
//
// Precondition: runs on the tracer's locked OS thread.
func (t *tracer) loop() (int, error) {
	t.spin = spinner{budget: t.cfg.Spin}
	// NumCPU is the CPUs this process may run on, read at its start.
	if runtime.NumCPU() > 1 {
		t.spin.rest = cmp.Or(t.cfg.spawnRest, spawnRest)
		t.warmOn = true
	}
	scheduled := time.Now()
	for {
		if now := time.Now(); now.Sub(scheduled) >= schedEvery {
			runtime.Gosched() // schedEvery says why
			scheduled = now
		}
		tid, ws, err := t.wait()
		if err != nil {
			if errors.Is(err, unix.ECHILD) && t.appDone {
				return t.exit, nil
			}
			return 0, fmt.Errorf("wait4: %w", err)
		}
		t.handle(tid, ws)
		if t.appDone {
			return t.exit, nil
		}
	}
}

// wait returns the next wait status. While stops come in quick succession
// it polls for up to the spin budget, yielding the CPU between polls,
// before it sleeps in wait4, unless a process was just created or exec'd
// (spin.go says why). With no stop pending it first does the exe reads
// queued for warmExes.
//
// Precondition: runs on the tracer's locked OS thread.
func (t *tracer) wait() (int, unix.WaitStatus, error) {
	if len(t.warm) > 0 {
		if tid, ws, err := sys.PollWait(); tid != 0 || err != nil {
			return tid, ws, err
		}
		t.warmExes()
	}
	sp := &t.spin
	start := time.Now()
	if sp.resting(start) {
		t.stats.SpinRests.Add(1)
	}
	if sp.spin(start) {
		deadline := start.Add(sp.budget)
		for {
			tid, ws, err := sys.PollWait()
			if tid != 0 || err != nil {
				sp.polled(tid > 0)
				if tid > 0 {
					t.stats.SpinHits.Add(1)
				}
				return tid, ws, err
			}
			if !time.Now().Before(deadline) {
				break
			}
			sys.Yield()
		}
		sp.polled(false)
		t.stats.SpinMisses.Add(1)
		start = time.Now()
	}
	tid, ws, err := sys.Wait4(0)
	sp.slept(time.Since(start))
	return tid, ws, err
}

// maxWarm bounds t.warm where the loop is never idle: past it, an exec
// stop reads its link cold, as it would without warmExes.
const maxWarm = 64

// warmExes reads the exe link of each process in t.warm, while the loop has
// no stop to handle. The exec stop reads that link for the post-check, with
// the process waiting; for a process met at its fork that is the first
// look-up of its /proc entries, which the kernel builds then: 19 to 22 µs
// on the bench VM, against 2.4 to 2.7 once built (docs/benchmarks.md).
// Read while the kernel still loads the new image, the link names the old
// image or the new one; either way the entries are built, and the exec stop
// reads it again.
//
// Precondition: runs on the tracer's locked OS thread.
func (t *tracer) warmExes() {
	for _, pid := range t.warm {
		_, _ = t.proc.Exe(pid)
	}
	t.warm = t.warm[:0]
}

// handle dispatches one wait status.
//
// Precondition: runs on the tracer's locked OS thread.
func (t *tracer) handle(tid int, ws unix.WaitStatus) {
	// The thread in flight is reported first at its call's exit stop, or
	// by its death; either ends its time in flight (serial_linux.go). The
	// calls waiting for it are decided once this report is handled, however
	// it ends (an exit report returns early).
	t.endInflight(tid)
	defer t.drainParked()
	switch {
	case ws.Exited() || ws.Signaled():
		t.gone(tid, ws)
		return
	case !ws.Stopped():
		return
	}
	th := t.thread(tid)
	t.stops++
	before := th.stoppedAt
	th.stoppedAt = t.stops
	sig := ws.StopSignal()
	event := int(uint32(ws) >> 16)
	if th.stub != nil && t.stubStop(th, event, sig) {
		return
	}
	var err error
	switch event {
	case 0:
		if sig == unix.SIGTRAP|0x80 {
			// Syscall-exit stop: we asked for it (PTRACE_SYSCALL) to learn a
			// result.
			err = t.syscallExit(th)
		} else {
			// Signal-delivery stop: the app (or the kernel) sent sig. Deliver
			// it as if we were not here; suppressing it would break the app.
			err = sys.Cont(tid, int(sig))
		}
	case unix.PTRACE_EVENT_SECCOMP:
		err = t.seccompStop(th)
	case unix.PTRACE_EVENT_FORK, unix.PTRACE_EVENT_VFORK, unix.PTRACE_EVENT_CLONE:
		// The child is auto-attached with our options. Its first stop may
		// already have come (then thread() met it); register it now if not.
		if child, e := sys.EventMsg(tid); e == nil {
			c := t.childOf(th, child)
			t.forked(th, c, before)
			if c.proc != th.proc {
				t.spin.spawned(time.Now()) // a new process, not a thread
			}
		}
		err = sys.Cont(tid, 0)
	case unix.PTRACE_EVENT_EXEC:
		err = t.execEvent(th)
		t.spin.spawned(time.Now())
	case unix.PTRACE_EVENT_STOP:
		switch sig {
		case unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
			// Group-stop of a seized tracee: stay stopped (job control) but
			// let the kernel tell us about SIGCONT.
			err = sys.Listen(tid)
		default:
			// A new child's first stop, or the end of a LISTEN: run on.
			err = sys.Cont(tid, 0)
		}
	default:
		// VFORK_DONE, EXIT and anything newer: nothing to decide.
		err = sys.Cont(tid, 0)
	}
	if err != nil && !errors.Is(err, sys.ErrGone) {
		// We could neither decide nor resume it: a tracee left in a stop
		// hangs forever, one resumed undecided runs unenforced. Kill it.
		t.log.Error("cannot handle tracee stop; killing it", "tid", tid, "err", err)
		_ = unix.Kill(tid, unix.SIGKILL)
	}
}

// thread returns the state of tid, creating it from /proc the first time we
// hear of it (a new child's first stop can come before its parent's
// fork/clone event).
func (t *tracer) thread(tid int) *thread {
	if th, ok := t.thr[tid]; ok {
		return th
	}
	th := t.newThread(tid)
	st, err := t.proc.ReadStatus(tid)
	if err != nil {
		st = procfs.Status{Tgid: tid}
	}
	if p, ok := t.procs[st.Tgid]; ok {
		th.proc = p
		return th
	}
	p := &process{pid: st.Tgid, ppid: st.PPid, uid: st.UID, pidfd: -1, exeLooked: true}
	p.exe, _ = t.proc.Exe(st.Tgid)
	if parent, ok := t.procs[st.PPid]; ok {
		p.parentExe = parent.exe
		p.ownFilter = parent.ownFilter // filters are inherited
	} else if st.PPid != 0 {
		p.parentExe, _ = t.proc.Exe(st.PPid)
	}
	t.procs[st.Tgid] = p
	th.proc = p
	return th
}

// newThread registers tid, which has no process yet.
func (t *tracer) newThread(tid int) *thread {
	th := &thread{tid: tid}
	t.thr[tid] = th
	if tid != t.appPid && t.appPid != 0 {
		t.stats.Tracees.Add(1)
		t.stats.TraceesTotal.Add(1)
	}
	return th
}

// childOf returns the state of tid, the child that parent's fork, vfork or
// clone event names. If the child's own first stop came first, thread met
// it already. Otherwise it is built from the parent, which is exact: the
// clone flags say whether it is a thread of parent's process or a new
// process and who its parent is; a new process runs the same image and has
// the forking thread's credentials, which are the process's unless some
// thread of it changed its own (then /proc says). It saves a new process
// the status read and the exe readlink (thread), 12 % of the tracer
// loop's time in a fork+exec-heavy job.
//
// Precondition: runs on the tracer's locked OS thread; parent is in its
// fork, vfork or clone event stop.
func (t *tracer) childOf(parent *thread, tid int) *thread {
	if th, ok := t.thr[tid]; ok {
		return th
	}
	pp := parent.proc
	flags, ok := cloneFlags(parent.tid)
	if !ok || pp.credsChanged {
		return t.thread(tid)
	}
	th := t.newThread(tid)
	if flags&unix.CLONE_THREAD != 0 {
		th.proc = pp
		return th
	}
	p := &process{pid: tid, uid: pp.uid, exe: pp.exe, pidfd: -1, ownFilter: pp.ownFilter}
	if flags&unix.CLONE_PARENT != 0 {
		// A sibling of the caller: the caller's parent is its parent.
		p.ppid, p.parentExe, p.ppidStale = pp.ppid, pp.parentExe, pp.ppidStale
	} else {
		p.ppid, p.parentExe = pp.pid, pp.exe
	}
	t.procs[tid] = p
	th.proc = p
	return th
}

// cloneFlags returns the flags of the fork, vfork or clone call that tid is
// stopped in (at its event stop the call's number and arguments are still in
// its registers). clone3 is refused by the filter (ENOSYS: its flags are in
// memory the caller can change), so it creates no child to ask about.
func cloneFlags(tid int) (uint64, bool) {
	var regs sys.Regs
	if sys.GetRegs(tid, &regs) != nil {
		return 0, false
	}
	switch regs.Nr() {
	case unix.SYS_FORK:
		return uint64(unix.SIGCHLD), true
	case unix.SYS_VFORK:
		return unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD), true
	case unix.SYS_CLONE:
		return regs.Arg(0), true
	}
	return 0, false
}

// gone handles an exit report: forget the task; if it is the app's main
// process, remember its exit code.
func (t *tracer) gone(tid int, ws unix.WaitStatus) {
	t.slots.Release(tid)
	t.unpark(tid)
	if th, ok := t.thr[tid]; ok {
		if th.cwdAtExit {
			t.cwdGen++ // its chdir may have taken effect before it died
		}
		delete(t.thr, tid)
		t.stats.Tracees.Add(-1)
		if th.proc != nil && th.proc.pid == tid {
			delete(t.procs, tid)
			th.proc.closePidfd()
			// Its children now have another parent (a subreaper, or the
			// namespace's init); which one, their status will say.
			for _, c := range t.procs {
				if c.ppid == tid {
					c.ppidStale = true
				}
			}
		}
	}
	if tid != t.appPid {
		return // another tracee, or an orphan we reaped
	}
	t.appDone = true
	if ws.Signaled() {
		t.exit = 128 + int(ws.Signal())
	} else {
		t.exit = ws.ExitStatus()
	}
}

// task names th for path lookups in its own view.
func (t *tracer) task(th *thread) procfs.Task {
	return procfs.Task{PID: th.proc.pid, TID: th.tid, SharedRoot: t.rootsShared}
}

// rootOf is the prefix that puts an absolute path of tid's view into ours:
// "" while every tracee shares our root, else /proc/<tid>/root.
func (t *tracer) rootOf(tid int) string {
	if t.rootsShared {
		return ""
	}
	return t.cfg.Proc + "/" + strconv.Itoa(tid) + "/root"
}

// identity is the event identity of th's process.
func (t *tracer) identity(th *thread) Identity {
	p := th.proc
	t.refreshPPid(p)
	id := Identity{PID: p.pid, PPID: p.ppid, UID: p.uid, ProcessName: p.exe, ParentProcessName: p.parentExe}
	if parent, ok := t.procs[p.ppid]; ok {
		id.ParentProcessName = parent.exe
	}
	id.Cwd = t.cwdOf(th)
	return id
}

// closePidfd closes p's pidfd, if it has one.
func (p *process) closePidfd() {
	if p.pidfd >= 0 {
		_ = unix.Close(p.pidfd)
		p.pidfd = -1
	}
}

// refreshPPid reads p's parent pid again if its parent has exited since
// it was read: the one way it changes (a process cannot choose a new parent).
func (t *tracer) refreshPPid(p *process) {
	if !p.ppidStale {
		return
	}
	if st, err := t.proc.ReadStatus(p.pid); err == nil {
		p.ppid, p.ppidStale = st.PPid, false
		// For a parent outside the traced tree (the tracer as subreaper,
		// init), identity falls back to parentExe.
		p.parentExe, _ = t.proc.Exe(st.PPid)
	}
}

// cwdOf is th's working directory for its events. Reading /proc/<tid>/cwd
// for every event cost a readlink per logged call, 8 % of the CPU time of a
// logged open+close loop on one CPU (perf). So it is kept per thread
// until t.cwdGen moves: at the start and the end of every chdir and fchdir
// (threads and CLONE_FS processes share a working directory, so any of them
// counts) and at the start of every rename (of a directory the path runs
// through). What the tracer does not see, a directory renamed from outside
// the traced tree, shows in events only from the next of those calls. Path
// resolution reads the cwd afresh: this is for events only.
func (t *tracer) cwdOf(th *thread) string {
	if th.cwdGen != t.cwdGen {
		cwd, err := t.proc.Cwd(t.task(th))
		if err != nil {
			return "" // gone, or unreadable: keep nothing
		}
		th.cwd, th.cwdGen = cwd, t.cwdGen
	}
	return th.cwd
}

// movesCwd reports whether a traced call can change what a kept working
// directory reads as (cwdOf).
func movesCwd(name string) bool {
	switch name {
	case "chdir", "fchdir", "rename", "renameat", "renameat2":
		return true
	}
	return false
}

// seccompStop decides one trapped syscall: decode, ask the policy, apply.
//
// Precondition: runs on the tracer's locked OS thread; th is in a seccomp stop.
func (t *tracer) seccompStop(th *thread) error {
	th.proc.preFilter = false // the filter is in place: every exec from now on is judged
	var regs sys.Regs
	if err := sys.GetRegs(th.tid, &regs); err != nil {
		return err
	}
	if reloc.IsMemory(regs.Nr()) {
		return t.memoryStop(th, &regs)
	}
	if filterInstall(regs.Nr()) {
		// The app stacks a seccomp filter of its own (the filter traces
		// only that use of seccomp and prctl). Nothing to decide; whether
		// a filter went in is known at the exit (libseccomp probes flags
		// with a NULL program, which fails).
		th.filterAtExit = true
		return sys.Syscall(th.tid, 0)
	}
	name, ok := syscallNames[regs.Nr()]
	if !ok {
		// The filter traced something we have no decoder for: a mismatch
		// between tracer/filter and this table. Let it run and say so.
		t.log.Warn("traced syscall without a decoder", "nr", regs.Nr())
		return sys.Cont(th.tid, 0)
	}
	if serialized(name) && t.inflight != 0 && t.inflight != th.tid && t.cfg.Policy.MayBlock(policy.OpFile) {
		// Another checked path call is between its check and its end: this
		// one is decided after it, so neither can change the tree under
		// the other (serial_linux.go). It stays in its seccomp stop meanwhile.
		t.park(th.tid)
		return nil
	}
	var args [6]uint64
	for i := range args {
		args[i] = regs.Arg(i)
	}
	cp := &t.capture
	j := t.judge(th, name, args)
	if j.best.Verdict != policy.Block && setsID(name) {
		th.uidAtExit = true
	}
	if j.best.Verdict != policy.Block && name == "chroot" {
		t.rootsShared = false
	}
	if j.best.Verdict != policy.Block && movesCwd(name) {
		t.cwdGen++
		// A chdir's effect is only complete at its exit: a thread sharing
		// the directory could read the old one in between and keep it.
		// Renames are not stopped again for this (they are common and a
		// rename's race with an event's cwd is harmless).
		th.cwdAtExit = name == "chdir" || name == "fchdir"
	}
	var pin pinPlan
	if j.best.Verdict != policy.Block {
		pin = t.planPin(th, name, args, cp)
		if t.mustSerialize(name, pin) && t.inflight != 0 && t.inflight != th.tid {
			// An open that cannot be pinned meets a path call in flight:
			// decide it again after that one (serial_linux.go).
			t.park(th.tid)
			return nil
		}
	}
	if j.best.Verdict != policy.Block {
		// The kernel must use what was checked: move the checked bytes where
		// the app cannot rewrite them.
		switch t.relocate(th, name, &regs, cp, pin) {
		case relocRestarted:
			return nil
		case relocDenied:
			j.best = policy.Decision{Verdict: policy.Block, Action: "Block", PolicyName: "DefaultPosture", Alert: true,
				Message: "checked arguments could not be protected from rewriting (argument region)"}
		}
	}
	// Counted once decided: a call that waited, or that traps again after
	// the region was mapped, is decided (and counted) only then.
	t.stats.trapped(name)
	t.stats.decided(j.best.Verdict)
	if j.best.Verdict != policy.Block && t.mustSerialize(name, pin) {
		t.inflight, th.serialAtExit = th.tid, true
	}

	if j.best.Verdict == policy.Block {
		// Skip the syscall and make it fail with EACCES, as KubeArmor's LSM
		// enforcers do ("Permission denied"). No exit stop: we know the result.
		ev := Event{Facet: j.facet, Decision: j.best}
		regs.SkipWithErrno(unix.EACCES)
		if err := sys.SetSyscallRegs(th.tid, &regs); err != nil {
			// Could not change the registers: the syscall would run. Kill
			// rather than let a blocked call through.
			_ = unix.Kill(th.tid, unix.SIGKILL)
			return err
		}
		ev.Result = ErrnoText(unix.EACCES)
		t.withArgv(th, &ev.Facet)
		t.emit(th, &ev, true)
		return sys.Cont(th.tid, 0)
	}
	if p := th.proc; (name == "execve" || name == "execveat") && !p.exeLooked && t.warmOn && len(t.warm) < maxWarm {
		p.exeLooked = true
		t.warm = append(t.warm, p.pid)
	}
	if ev, alert, ok := t.reportOf(j); ok {
		t.withArgv(th, &ev.Facet)
		th.pending = &pendingCall{ev: ev, alert: alert, acceptAddr: j.c.acceptAddr}
		return sys.Syscall(th.tid, 0)
	}
	if th.uidAtExit || th.serialAtExit || th.cwdAtExit {
		return sys.Syscall(th.tid, 0)
	}
	return sys.Cont(th.tid, 0)
}

// withArgv reads the arguments of a reported exec into its Resource, from
// the caller's memory, which the exec has not replaced yet.
//
// Precondition: runs on the tracer's locked OS thread; th is in the exec's
// seccomp stop.
func (t *tracer) withArgv(th *thread, f *Facet) {
	if f.argv != 0 {
		f.Resource = withArgs(f.Resource, readArgv(&memReader{t: t, th: th}, f.argv))
		f.argv = 0
	}
}

// reportOf says how a call that runs is reported once its result is known:
// as an alert (its rule or an audit asks), as a log (visibility covers its
// operation), or not at all (ok false).
func (t *tracer) reportOf(j judgement) (ev Event, alert, ok bool) {
	ev = Event{Facet: j.facet, Decision: j.best}
	switch {
	case j.best.Alert || j.best.Verdict == policy.Audit:
		return ev, true, true
	case !j.best.Silent && j.bestFacet >= 0 && t.cfg.Visibility.covers(j.c.facets[0].Req.Op):
		// A log reports the primary facet, whatever domain decided.
		ev.Facet = j.c.facets[0]
		return ev, false, true
	}
	return ev, false, false
}

// judgement is what the policy made of one trapped call.
type judgement struct {
	c         *call
	best      policy.Decision
	facet     Facet // the facet that decided
	bestFacet int   // its index in c.facets, -1 if none
}

// judge decodes th's call and asks the policy about every facet: the
// strictest verdict wins. Unreadable arguments a rule could need, and
// connections to the tracer's own ports, fail closed. What the decoder read
// is left in t.capture, for relocation or pinning.
//
// Precondition: runs on the tracer's locked OS thread; th is in a seccomp
// stop.
func (t *tracer) judge(th *thread, name string, args [6]uint64) judgement {
	// One reader and capture serve every stop (the loop handles one stop
	// at a time); reset, not reallocated.
	cp := &t.capture
	cp.strs, cp.bytes, cp.resolved = cp.strs[:0], cp.bytes[:0], cp.resolved[:0]
	t.reader = memReader{t: t, th: th, cap: cp}
	c := decode(&t.call, name, args, &t.reader, th.proc.exe, th.proc.uid)

	best := policy.Decision{Verdict: policy.Allow, Action: "Allow"}
	bestFacet := -1
	for i, f := range c.facets {
		d := t.cfg.Policy.Decide(f.Req)
		if bestFacet < 0 || stricter(d, best) {
			best, bestFacet = d, i
		}
	}
	var facet Facet
	if bestFacet >= 0 {
		facet = c.facets[bestFacet]
	}
	if c.unreadable != nil {
		t.stats.Unreadable.Add(1)
		if t.cfg.Policy.MayBlock(c.unreadableOp) || c.unreadableOp == policy.OpSyscall {
			// Fail closed: a rule could block this and we cannot tell.
			t.stats.FailedClosed.Add(1)
			t.log.Debug("argument unreadable; denying", "tid", th.tid, "syscall", name, "err", c.unreadable)
			best = policy.Decision{Verdict: policy.Block, Action: "Block", PolicyName: "DefaultPosture", Alert: true}
			if bestFacet < 0 {
				facet = Facet{Operation: opName(c.unreadableOp), Data: "syscall=" + sysName(name),
					Req: policy.Request{Op: c.unreadableOp, Source: th.proc.exe, Syscall: name}}
			}
		}
	}
	if c.connectTo != nil && t.protected.covers(*c.connectTo) {
		c.denyAlways = fmt.Sprintf("connect to bluelock's own control port %d from a traced process", c.connectTo.Port)
	}
	if c.denyAlways != "" {
		best = policy.Decision{Verdict: policy.Block, Action: "Block", PolicyName: "DefaultPosture", Alert: true,
			Message: c.denyAlways}
	}
	return judgement{c: c, best: best, facet: facet, bestFacet: bestFacet}
}

// setsID reports whether a traced syscall changes the caller's credentials.
func setsID(name string) bool {
	switch name {
	case "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid":
		return true
	}
	return false
}

// syscallExit completes a pending event with the syscall's result.
//
// Precondition: runs on the tracer's locked OS thread; th is in a
// syscall-exit stop.
func (t *tracer) syscallExit(th *thread) error {
	if th.uidAtExit {
		// Credentials are per thread; glibc makes every thread call setuid,
		// each through here. The process keeps the latest.
		th.uidAtExit = false
		th.proc.credsChanged = true
		if st, err := t.proc.ReadStatus(th.tid); err == nil {
			th.proc.uid = st.UID
		}
	}
	if th.serialAtExit {
		th.serialAtExit = false
		t.endInflight(th.tid)
	}
	if th.cwdAtExit {
		th.cwdAtExit = false
		t.cwdGen++
	}
	if th.filterAtExit {
		th.filterAtExit = false
		var regs sys.Regs
		if err := sys.GetRegs(th.tid, &regs); err != nil || regs.Ret() == 0 {
			th.proc.ownFilter = true // unreadable: assume it went in
		}
	}
	p := th.pending
	th.pending = nil
	if p == nil {
		return sys.Cont(th.tid, 0)
	}
	var regs sys.Regs
	if err := sys.GetRegs(th.tid, &regs); err != nil {
		return err
	}
	ret := regs.Ret()
	p.ev.Result = ResultText(ret)
	if ret >= 0 && p.acceptAddr != 0 {
		// accept's peer address is known only now.
		if b, err := (&memReader{t: t, th: th}).Bytes(p.acceptAddr, 128); err == nil {
			if sa, ok := ParseSockaddr(b); ok {
				p.ev.Facet.Resource = sa.Resource()
			}
		}
	}
	t.emit(th, &p.ev, p.alert)
	return sys.Cont(th.tid, 0)
}

// execEvent runs when an execve succeeded: the new image is loaded but has
// not run an instruction yet.
//
// Precondition: runs on the tracer's locked OS thread; th (the thread-group
// leader's tid) is in a PTRACE_EVENT_EXEC stop.
func (t *tracer) execEvent(th *thread) error {
	// A non-leader thread that execs takes over the leader's tid; the event
	// message is its former tid. Its pending exec moves with it.
	if former, err := sys.EventMsg(th.tid); err == nil && former != th.tid {
		if old, ok := t.thr[former]; ok {
			th.pending = old.pending
			delete(t.thr, former)
			t.stats.Tracees.Add(-1)
		}
		t.slots.Release(former)
		// The old leader died in de_thread without a report of its own: if
		// it waited in a seccomp stop or had a call in flight, that is over
		// (its time in flight already ended with this report, in handle).
		t.unpark(th.tid)
		t.unpark(former)
		th.serialAtExit, th.filterAtExit = false, false
		if th.cwdAtExit {
			th.cwdAtExit = false
			t.cwdGen++
		}
	}
	p := th.proc
	// A new image has a new address space: the region must be mapped again
	// before the next relocation.
	p.region = regionNeeded
	caller := p.exe
	p.exe, _ = t.proc.Exe(p.pid)
	p.exeLooked = true
	// No status read for the uid: exec cannot change it, since
	// no_new_privs (stage 2 sets it for the filter) makes the kernel ignore
	// set-user-ID bits and file capabilities. The parent pid is refreshed
	// where it may have changed (ppidStale).
	t.refreshPPid(p)

	if p.preFilter {
		// Stage 2's own exec of bluelock, reported because we seized it
		// mid-exec: no filter yet, not the app; nothing to judge. The app's
		// exec comes after stage 2 loaded the filter, so after a seccomp stop.
		th.pending = nil
		return sys.Cont(th.tid, 0)
	}
	// Post-check (TOCTOU): the path we decided on at the seccomp stop may
	// have been swapped by another thread or a racing rename. What counts is
	// the image that really got loaded.
	req := policy.Request{Op: policy.OpProcess, Path: p.exe, Source: caller, UID: p.uid,
		Owner: (&memReader{t: t, th: th}).Owner()}
	d := t.cfg.Policy.Decide(req)
	if d.Verdict != policy.Block && isLoader(p.exe) {
		// The loader runs its program argument: judge that too, from the
		// argv the kernel copied (ldso.go).
		if lreq, ld, ok := t.loaderPostCheck(th, caller); ok {
			req, d = lreq, ld
		}
	}
	if d.Verdict == policy.Block {
		t.stats.PostExecKills.Add(1)
		_ = unix.Kill(p.pid, unix.SIGKILL)
		th.pending = nil
		ev := Event{
			Facet:    Facet{Req: req, Operation: opName(policy.OpProcess), Resource: req.Path, Data: "syscall=" + sysName("execve")},
			Decision: d, Result: ErrnoText(unix.EACCES),
		}
		t.emit(th, &ev, true)
		return sys.Cont(th.tid, 0)
	}
	if pc := th.pending; pc != nil {
		th.pending = nil
		pc.ev.Result = "Passed"
		t.emitAs(th, &pc.ev, pc.alert, caller)
	}
	t.mapAtExec(th)
	// PTRACE_CONT, not SYSCALL: the exec's exit stop would tell us nothing new.
	return sys.Cont(th.tid, 0)
}

func (t *tracer) emit(th *thread, ev *Event, alert bool) { t.emitAs(th, ev, alert, "") }

// emitAs sends ev. For an exec completed after the image changed, caller
// is the exe that called execve (the identity's ProcessName is the new image).
func (t *tracer) emitAs(th *thread, ev *Event, alert bool, caller string) {
	ev.Who = t.identity(th)
	ev.Facet.renderData()
	if caller != "" && ev.Facet.Req.Op == policy.OpProcess {
		// For exec events KubeArmor's ProcessName is the new image (the
		// facet's Path); Source stays the caller.
		ev.Facet.Req.Source = caller
	}
	ev.Time = t.cfg.Now()
	t.stats.Events.Add(1)
	if alert {
		t.cfg.Emitter.Emit(ev.Alert(&t.cfg.Container))
	} else {
		t.cfg.Emitter.Emit(ev.Log(&t.cfg.Container))
	}
}

// killRemaining ends every tracee still alive once the app has exited (what
// the kernel does when PID 1 exits) and reaps them, so nothing outlives Run.
//
// Precondition: runs on the tracer's locked OS thread.
func (t *tracer) killRemaining() {
	for tid := range t.thr {
		_ = unix.Kill(tid, unix.SIGKILL)
	}
	for range 10000 {
		tid, ws, err := sys.Wait4(0)
		if err != nil {
			return // ECHILD: nothing left
		}
		if ws.Stopped() {
			_ = unix.Kill(tid, unix.SIGKILL)
			_ = sys.Cont(tid, 0)
		}
	}
}

// forwardSignals sends every signal from sigs to the app's main process.
// kill(2) needs no ptrace, so this runs on its own goroutine.
func forwardSignals(ctx context.Context, pid int, sigs <-chan os.Signal, done <-chan struct{}, log *slog.Logger) {
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			// Cancellation ends the app the hard way; its exit wakes the loop.
			_ = unix.Kill(pid, unix.SIGKILL)
			return
		case s, ok := <-sigs:
			if !ok {
				sigs = nil
				continue
			}
			sig, ok := s.(syscall.Signal)
			if !ok {
				continue
			}
			if err := unix.Kill(pid, sig); err != nil {
				log.Debug("forward signal", "signal", sig, "err", err)
			}
		}
	}
}

// memReader reads arguments of a stopped thread.
type memReader struct {
	t  *tracer
	th *thread
	// cap records what was read, for relocation (nil: do not record).
	cap *capture
}

func (m *memReader) String(addr uint64) (string, error) {
	s, err := sys.ReadString(m.th.tid, uintptr(addr), sys.PathMax)
	if err == nil && m.cap != nil {
		m.cap.str(addr, s)
	}
	return s, err
}

func (m *memReader) Bytes(addr uint64, n int) ([]byte, error) {
	if n <= 0 {
		return nil, fmt.Errorf("read %d bytes", n)
	}
	b := make([]byte, n)
	if err := sys.ReadMem(m.th.tid, uintptr(addr), b); err != nil {
		return nil, err
	}
	if m.cap != nil {
		m.cap.mem(addr, b)
	}
	return b, nil
}

func (m *memReader) Resolve(dirfd int, path string, flags procfs.Flags) (string, error) {
	w, err := m.t.proc.ResolvePlain(m.t.task(m.th), dirfd, path, flags)
	if m.cap != nil {
		m.cap.resolve(dirfd, path, flags, w)
	}
	return w.Path, err
}

// Owner stats path in the thread's root when a rule asks (the tracee is
// still stopped then: Decide runs in the stop loop).
func (m *memReader) Owner() func(path string) (int, bool) {
	if m.t.rootsShared {
		return statOwner // no closure: nothing to allocate per call
	}
	root := m.t.rootOf(m.th.tid)
	return func(path string) (int, bool) { return statOwner(root + path) }
}

// statOwner is the uid owning path, in the tracer's view.
func statOwner(path string) (int, bool) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, false
	}
	return int(st.Uid), true
}

func (m *memReader) Socket(fd int, withLocal bool) (SocketInfo, error) {
	p := m.th.proc
	if p.pidfd < 0 {
		pidfd, err := sys.OpenPidfd(p.pid)
		if err != nil {
			return SocketInfo{}, err
		}
		p.pidfd = pidfd
	}
	s, err := sys.SocketOf(p.pidfd, p.pid, fd, withLocal)
	if err != nil {
		return SocketInfo{}, err
	}
	si := SocketInfo{Domain: s.Domain, Type: s.Type, Protocol: s.Protocol}
	switch a := s.Local.(type) {
	case *unix.SockaddrInet4:
		si.Local = Sockaddr{Family: unix.AF_INET, Port: a.Port, Addr: addrString(a.Addr[:])}
	case *unix.SockaddrInet6:
		si.Local = Sockaddr{Family: unix.AF_INET6, Port: a.Port, Addr: addrString(a.Addr[:])}
	case *unix.SockaddrUnix:
		si.Local = Sockaddr{Family: unix.AF_UNIX, Addr: a.Name}
	default:
		si.Local = Sockaddr{Family: s.Domain}
	}
	return si, nil
}
