package file

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/policy/source/internal/ready"
)

// DefaultInterval is how often the files are re-read.
const DefaultInterval = 2 * time.Second

// Sink receives the full set of policies of one source (policy.Store).
type Sink interface {
	Apply(source string, policies []policy.KubeArmorPolicy) error
}

// ParseFunc parses a file's content; origin names the file in errors.
type ParseFunc func(data []byte, origin string) ([]policy.KubeArmorPolicy, error)

// Config configures a Source.
type Config struct {
	// Paths are files or directories.
	Paths []string
	// Interval between polls; DefaultInterval when zero.
	Interval time.Duration
	// Name is the source name given to the sink; "file" when empty.
	Name string
	// Parse defaults to policy.Parse.
	Parse ParseFunc
}

// Source watches policy files.
type Source struct {
	cfg    Config
	sink   Sink
	logger *slog.Logger
	ready  *ready.Signal
	// pending is a changed hash seen once, waiting for a second read to agree.
	pending string
	// polled is signalled after every poll (tests); nil in production.
	polled chan<- string
}

// New returns a Source; call Run.
func New(cfg Config, sink Sink, logger *slog.Logger) (*Source, error) {
	if len(cfg.Paths) == 0 {
		return nil, errors.New("file policy source: no path configured")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Name == "" {
		cfg.Name = "file"
	}
	if cfg.Parse == nil {
		cfg.Parse = policy.Parse
	}
	return &Source{cfg: cfg, sink: sink, logger: logger.With("source", cfg.Name), ready: ready.New()}, nil
}

// Name is the source name.
func (s *Source) Name() string { return s.cfg.Name }

// Ready is closed once a complete set has been applied.
func (s *Source) Ready() <-chan struct{} { return s.ready.Ready() }

// Err says why the source has not delivered (nil once it has).
func (s *Source) Err() error { return s.ready.Err() }

// Run delivers the files now and on every change until ctx ends.
func (s *Source) Run(ctx context.Context) error {
	var last string
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		last = s.poll(last, last == "" && !s.ready.IsReady())
		if s.polled != nil {
			select {
			case s.polled <- last:
			case <-ctx.Done():
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// poll reads everything, and parses and applies it if its hash differs from
// last. It returns the hash to compare with next time ("" when reading failed,
// so the read is retried).
//
// A change is applied only once two consecutive reads agree (immediate is
// true only before anything was read successfully): a file rewritten in
// place is briefly empty or half written, and applying that would lift
// policies for one interval. Writers should still replace files atomically
// (write a temporary file, rename it), as the kubelet does for ConfigMaps.
func (s *Source) poll(last string, immediate bool) string {
	files, err := s.read()
	if err != nil {
		if s.ready.Err() == nil || s.ready.Err().Error() != err.Error() {
			s.logger.Error("cannot read policy files; the last good set stays in force", "err", err)
		}
		s.ready.SetErr(err)
		return ""
	}
	h := hashFiles(files)
	if h == last {
		return last
	}
	if !immediate && h != s.pending {
		s.pending = h
		return last
	}
	s.pending = ""
	var all []policy.KubeArmorPolicy
	var errs []error
	for _, f := range files {
		ps, err := s.cfg.Parse(f.data, f.path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.path, err))
			continue
		}
		all = append(all, ps...)
	}
	if err := errors.Join(errs...); err != nil {
		s.logger.Error("invalid policy file; the last good set stays in force", "err", err)
		s.ready.SetErr(err)
		return h
	}
	if err := s.sink.Apply(s.cfg.Name, all); err != nil {
		err = fmt.Errorf("policies from %s rejected: %w", strings.Join(names(files), ", "), err)
		s.logger.Error("invalid policy; the last good set stays in force", "err", err)
		s.ready.SetErr(err)
		return h
	}
	s.logger.Info("policy files applied", "files", names(files), "policies", len(all))
	s.ready.Done()
	return h
}

type content struct {
	path string
	data []byte
}

func names(files []content) []string {
	out := make([]string, 0, len(files))
	for _, f := range files {
		out = append(out, f.path)
	}
	return out
}

func hashFiles(files []content) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00", f.path, len(f.data))
		h.Write(f.data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// read returns the content of every policy file, in a stable order.
func (s *Source) read() ([]content, error) {
	var out []content
	for _, p := range s.cfg.Paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("policy path: %w", err)
		}
		if !st.IsDir() {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("policy file: %w", err)
			}
			out = append(out, content{path: p, data: data})
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("policy directory: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") || !isPolicyFile(name) {
				continue
			}
			full := filepath.Join(p, name)
			// Stat follows symlinks: ConfigMap entries are symlinks into ..data/.
			fst, err := os.Stat(full)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue // dangling symlink during a swap; the next poll sees the new set
				}
				return nil, fmt.Errorf("policy file: %w", err)
			}
			if !fst.Mode().IsRegular() {
				continue
			}
			data, err := os.ReadFile(full)
			if err != nil {
				return nil, fmt.Errorf("policy file: %w", err)
			}
			out = append(out, content{path: full, data: data})
		}
	}
	slices.SortStableFunc(out, func(a, b content) int { return strings.Compare(a.path, b.path) })
	return out, nil
}

func isPolicyFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}
