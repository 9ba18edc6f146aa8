package outputs

import (
	"strings"
	"testing"
	"time"
)

func TestSettingsHelpers(t *testing.T) {
	t.Parallel()
	s := MapSettings{Prefix: "X", Values: map[string]string{
		"B1": "yes", "B2": " false ", "BBAD": "maybe", "I": "42", "IBAD": "4x", "IBIG": "100",
		"D1": "1500ms", "D2": "30", "DBAD": "later", "DNEG": "-1s",
		"L": " a, ,b ,c,", "M": "Authorization:Bearer a:b, X-A : 1 ", "MBAD": "k:v,nocolon", "MEMPTY": ":v", "S": "  v  ",
	}}
	if v, err := GetBool(s, "B1", false); !v || err != nil {
		t.Errorf("B1 = %v %v", v, err)
	}
	if v, err := GetBool(s, "B2", true); v || err != nil {
		t.Errorf("B2 = %v %v", v, err)
	}
	if v, err := GetBool(s, "UNSET", true); !v || err != nil {
		t.Errorf("UNSET = %v %v", v, err)
	}
	if _, err := GetBool(s, "BBAD", false); err == nil || err.Error() != `X_BBAD: want true or false, got "maybe"` {
		t.Errorf("BBAD err = %v", err)
	}
	if v, err := GetInt(s, "I", 0, 0, 50); v != 42 || err != nil {
		t.Errorf("I = %v %v", v, err)
	}
	if _, err := GetInt(s, "IBAD", 0, 0, 50); err == nil || err.Error() != `X_IBAD: want an integer, got "4x"` {
		t.Errorf("IBAD err = %v", err)
	}
	if _, err := GetInt(s, "IBIG", 0, 0, 50); err == nil || err.Error() != `X_IBIG: 100 out of range [0, 50]` {
		t.Errorf("IBIG err = %v", err)
	}
	if v, _ := GetDuration(s, "D1", 0); v != 1500*time.Millisecond {
		t.Errorf("D1 = %v", v)
	}
	if v, _ := GetDuration(s, "D2", 0); v != 30*time.Second {
		t.Errorf("D2 = %v", v)
	}
	if _, err := GetDuration(s, "DBAD", 0); err == nil || !strings.HasPrefix(err.Error(), "X_DBAD: want a duration") {
		t.Errorf("DBAD err = %v", err)
	}
	if _, err := GetDuration(s, "DNEG", 0); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("DNEG err = %v", err)
	}
	if l := GetList(s, "L"); strings.Join(l, "|") != "a|b|c" {
		t.Errorf("L = %q", l)
	}
	m, err := GetMap(s, "M")
	if err != nil || m["Authorization"] != "Bearer a:b" || m["X-A"] != "1" || len(m) != 2 {
		t.Errorf("M = %v %v", m, err)
	}
	if _, err := GetMap(s, "MBAD"); err == nil || err.Error() != `X_MBAD: item 2 "nocolon": want key:value` {
		t.Errorf("MBAD err = %v", err)
	}
	if _, err := GetMap(s, "MEMPTY"); err == nil {
		t.Error("MEMPTY accepted")
	}
	if GetString(s, "S", "d") != "v" || GetString(s, "UNSET", "d") != "d" {
		t.Error("GetString")
	}
}
