package reloc

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/bluelock/bluelock/tracer/procfs"
)

// Mapped reports whether pid has the region mapped at Addr as it must be: one
// read-only shared mapping ("r--s") of our memfd (same device and inode),
// offset 0, exactly Size bytes. Whoever made such a mapping, it is safe: the
// memfd cannot be written through it, nor made writable (see the package
// doc). procRoot is where procfs is mounted ("/proc").
func (r *Region) Mapped(procRoot string, pid int) (bool, error) {
	b, err := procfs.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return false, fmt.Errorf("read maps of %d: %w", pid, err)
	}
	want := []byte(strconv.FormatUint(Addr, 16) + "-")
	for line := range bytes.Lines(b) {
		if bytes.HasPrefix(line, want) {
			return r.matches(bytes.TrimSuffix(line, []byte("\n"))), nil
		}
	}
	return false, nil
}

// matches checks one maps line: "start-end perms offset major:minor inode path".
func (r *Region) matches(line []byte) bool {
	f := bytes.Fields(line)
	if len(f) < 5 {
		return false
	}
	rng := bytes.SplitN(f[0], []byte("-"), 2)
	if len(rng) != 2 {
		return false
	}
	start, err1 := strconv.ParseUint(string(rng[0]), 16, 64)
	end, err2 := strconv.ParseUint(string(rng[1]), 16, 64)
	off, err3 := strconv.ParseUint(string(f[2]), 16, 64)
	ino, err4 := strconv.ParseUint(string(f[4]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return false
	}
	mm := bytes.SplitN(f[3], []byte(":"), 2)
	if len(mm) != 2 {
		return false
	}
	maj, err5 := strconv.ParseUint(string(mm[0]), 16, 32)
	min, err6 := strconv.ParseUint(string(mm[1]), 16, 32)
	if err5 != nil || err6 != nil {
		return false
	}
	return start == Addr && end == Addr+Size && off == 0 && string(f[1]) == "r--s" &&
		ino == r.ino && devMatches(r.dev, maj, min)
}

// devMatches compares a stat st_dev with the major:minor maps prints.
func devMatches(dev, maj, min uint64) bool {
	// Linux's new_encode_dev layout, as glibc's gnu_dev_major/minor decode it.
	dmaj := (dev>>8)&0xfff | (dev>>32)&^0xfff
	dmin := dev&0xff | (dev>>12)&^0xff
	return dmaj == maj && dmin == min
}
