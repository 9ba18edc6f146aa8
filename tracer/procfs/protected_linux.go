package procfs

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// ProtectedSymlinks reads fs.protected_symlinks. When it cannot be read the
// answer is true: applying the rule where the kernel would not only refuses
// a rare cross-user link in a sticky directory; not applying it where the
// kernel would opens the /tmp symlink attacks the rule exists to stop.
func (p Proc) ProtectedSymlinks() bool {
	b, err := os.ReadFile(p.Mount + "/sys/fs/protected_symlinks")
	if err != nil {
		return true
	}
	return strings.TrimSpace(string(b)) != "0"
}

// MayFollow applies fs.protected_symlinks to links a lookup followed, as
// fs/namei.c may_follow_link does: a link in a sticky, world-writable
// directory may be followed only by its owner, or when the directory's owner
// also owns the link. It is for callers that hand the kernel a path with the
// links already replaced (Walked.Plain), which the kernel then does not
// check. fsuid is asked only when a link needs it (it costs a status read).
//
// Paths are in t's view and must be in the tracer's own root
// (t.SharedRoot).
func (p Proc) MayFollow(t Task, links []string, fsuid func() (int, error)) error {
	uid := -1
	for _, l := range links {
		host := l
		if l == "/proc" || strings.HasPrefix(l, "/proc/") {
			host = p.Mount + strings.TrimPrefix(l, "/proc")
		}
		var dir unix.Stat_t
		if err := unix.Lstat(parent(host), &dir); err != nil {
			return fmt.Errorf("protected_symlinks: stat the directory of %s: %w", l, err)
		}
		const sticky = unix.S_ISVTX | unix.S_IWOTH
		if dir.Mode&sticky != sticky {
			continue
		}
		var link unix.Stat_t
		if err := unix.Lstat(host, &link); err != nil {
			return fmt.Errorf("protected_symlinks: stat %s: %w", l, err)
		}
		if link.Uid == dir.Uid {
			continue
		}
		if uid < 0 {
			u, err := fsuid()
			if err != nil {
				return fmt.Errorf("protected_symlinks: fsuid of %d: %w", t.TID, err)
			}
			uid = u
		}
		if uint32(uid) != link.Uid {
			return fmt.Errorf("protected_symlinks: %s (owner %d) in sticky world-writable %s (owner %d), followed by uid %d: %w",
				l, link.Uid, parent(l), dir.Uid, uid, unix.EACCES)
		}
	}
	return nil
}
