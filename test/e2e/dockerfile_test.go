package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// finalStage returns the instructions of a Dockerfile's last stage, one per entry, with
// comments and blank lines dropped and `COPY --from=<stage> <built file> /x` reduced to
// `COPY x /x` (the e2e images copy the same file from bin/).
func finalStage(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stage []string
	copyFrom := regexp.MustCompile(`^COPY --from=\S+ \S*/(\S+) (\S+)$`)
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.Join(strings.Fields(line), " ")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(strings.ToUpper(line), "FROM ") {
			stage = nil
		}
		if m := copyFrom.FindStringSubmatch(line); m != nil {
			line = "COPY " + m[1] + " " + m[2]
		}
		stage = append(stage, line)
	}
	return stage
}

// TestDockerfilesMatchRelease: the images the e2e suite builds from bin/ are the release
// images' final stages, instruction for instruction.
func TestDockerfilesMatchRelease(t *testing.T) {
	t.Parallel()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	repo := filepath.Join(dir, "..", "..")
	for _, tc := range []struct{ release, e2e string }{
		{"Dockerfile.bluelock", "init.Dockerfile"},
		{"Dockerfile.sidekick", "sidekick.Dockerfile"},
	} {
		t.Run(tc.release, func(t *testing.T) {
			t.Parallel()
			rel := filepath.Join(repo, tc.release)
			if _, err := os.Stat(rel); err != nil {
				t.Skipf("%s not in the repository: %v", tc.release, err)
			}
			want := finalStage(t, rel)
			got := finalStage(t, filepath.Join(dir, "testdata", tc.e2e))
			if !slices.Equal(got, want) {
				t.Errorf("testdata/%s differs from the final stage of %s:\n got: %q\nwant: %q", tc.e2e, tc.release, got, want)
			}
		})
	}
}
