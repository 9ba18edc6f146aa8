package images

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// makeVar returns the value of `NAME := value` in the Makefile.
func makeVar(t *testing.T, makefile, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `\s*:=\s*(.+)$`).FindStringSubmatch(makefile)
	if m == nil {
		t.Fatalf("Makefile has no %s", name)
	}
	return strings.TrimSpace(m[1])
}

// finalStage returns the instructions after the last FROM (that FROM included).
func finalStage(dockerfile string) []string {
	var stage []string
	for _, line := range strings.Split(dockerfile, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "FROM ") {
			stage = nil
		}
		stage = append(stage, line)
	}
	return stage
}

func TestStaticFlagsAgree(t *testing.T) {
	t.Parallel()
	mk := read(t, "Makefile")
	tags := makeVar(t, mk, "STATIC_TAGS")
	ldflags := makeVar(t, mk, "STATIC_LDFLAGS")
	for _, f := range []string{"Dockerfile.bluelock", "hack/cross-arm64.sh"} {
		s := read(t, f)
		if !strings.Contains(s, `-tags "`+tags+`"`) {
			t.Errorf("%s does not build with -tags %q (Makefile STATIC_TAGS)", f, tags)
		}
		if !strings.Contains(s, `-ldflags "`+ldflags+`"`) {
			t.Errorf("%s does not build with -ldflags %q (Makefile STATIC_LDFLAGS)", f, ldflags)
		}
		if !strings.Contains(s, "CGO_ENABLED=1") || !strings.Contains(s, "-trimpath") {
			t.Errorf("%s: the tracer needs CGO_ENABLED=1 (libseccomp) and -trimpath", f)
		}
	}
}

func TestFinalStages(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file string
		want []string
	}{
		{"Dockerfile.bluelock", []string{
			"FROM scratch",
			"COPY --from=build /out/bluelock /bluelock",
			`ENTRYPOINT ["/bluelock", "install", "/kubearmor"]`,
		}},
		{"Dockerfile.sidekick", []string{
			"FROM scratch",
			"COPY --from=build /out/sidekick /sidekick",
			"USER 65532:65532",
			"EXPOSE 2801 32767",
			`ENTRYPOINT ["/sidekick"]`,
		}},
	}
	for _, tc := range cases {
		s := read(t, tc.file)
		got := finalStage(s)
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s final stage:\n%s\nwant:\n%s", tc.file, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
		if !strings.Contains(s, "--platform=$BUILDPLATFORM") || !strings.Contains(s, `GOARCH="$TARGETARCH"`) {
			t.Errorf("%s: build stage must run on $BUILDPLATFORM and cross-compile for $TARGETARCH", tc.file)
		}
	}
	if s := read(t, "Dockerfile.sidekick"); !strings.Contains(s, "CGO_ENABLED=0") {
		t.Error("Dockerfile.sidekick: the sidekick is built with CGO_ENABLED=0")
	}
	if s := read(t, "Dockerfile.bluelock"); !strings.Contains(s, `"libseccomp-dev:$TARGETARCH"`) || !strings.Contains(s, "libseccomp-dev") {
		t.Error("Dockerfile.bluelock: needs libseccomp-dev for the native and the target architecture")
	}
}

func TestFinalStageParser(t *testing.T) {
	t.Parallel()
	got := finalStage("FROM a AS b\nRUN x\n# c\nFROM scratch\n\nCOPY y /y\n")
	if strings.Join(got, "|") != "FROM scratch|COPY y /y" {
		t.Errorf("finalStage = %q", got)
	}
}
