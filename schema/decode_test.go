package schema

import (
	"errors"

	pb "github.com/kubearmor/KubeArmor/protobuf"
	"strings"
	"testing"
)

const (
	goodAlert = `{"Timestamp":1700000000,"UpdatedTime":"2023-11-14T22:13:20.000000Z","ClusterName":"default","HostName":"ip-10-0-0-1","NamespaceName":"shop","PodName":"web-1","ContainerName":"web","PPID":1,"PID":42,"UID":0,"ProcessName":"/bin/cat","PolicyName":"block-shadow","Severity":"5","Tags":"NIST","ATags":["NIST"],"Message":"no shadow","Type":"MatchedPolicy","Source":"/bin/cat /etc/shadow","Operation":"File","Resource":"/etc/shadow","Data":"syscall=SYS_OPENAT fd=-100 flags=O_RDONLY","EventData":{"Syscall":"SYS_OPENAT"},"Enforcer":"bluelock","Action":"Block","Result":"Permission denied","Owner":{"Ref":"Deployment","Name":"web","Namespace":"shop"},"ExecEvent":{"ExecID":"1","ExecutableName":"cat"}}`
	goodLog   = `{"Timestamp":1700000001,"UpdatedTime":"2023-11-14T22:13:21.000000Z","HostName":"ip-10-0-0-1","NamespaceName":"shop","PPID":1,"PID":43,"UID":0,"Type":"ContainerLog","Source":"/bin/sh","Operation":"Process","Resource":"/bin/ls -l","Data":"syscall=SYS_EXECVE","Result":"Passed"}`
	goodSys   = `{"Timestamp":1700000002,"UpdatedTime":"2023-11-14T22:13:22Z","HostName":"h","PPID":0,"UID":0,"Type":"SystemEvent","Operation":"AlertThreshold","MaxAlertsPerSec":10,"DroppingAlertsInterval":10}`
)

// with replaces the first occurrence of old in a fixture, failing loudly if absent.
func with(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("fixture does not contain %q", old)
	}
	return strings.Replace(s, old, new, 1)
}

func TestDecodeShapes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		body     string
		events   int
		rejected []string // exact error texts, in order
	}{
		{name: "one object", body: goodAlert, events: 1},
		{name: "one object with spaces", body: "\n  " + goodLog + "  \n", events: 1},
		{name: "array", body: "[" + goodAlert + "," + goodLog + "," + goodSys + "]", events: 3},
		{name: "empty array", body: " [ ] ", events: 0},
		{name: "ndjson", body: goodAlert + "\n" + goodLog + "\n" + goodSys + "\n", events: 3},
		{name: "ndjson crlf", body: goodAlert + "\r\n" + goodLog + "\r\n", events: 2},
		{name: "ndjson broken middle line resyncs", body: goodAlert + "\n" + `{"Type":x` + "\n" + goodLog + "\n", events: 2,
			rejected: []string{`event 1: invalid JSON in the value at byte 694: invalid character 'x' looking for beginning of value`}},
		{name: "ndjson truncated last line", body: goodAlert + "\n" + goodLog[:40], events: 1,
			rejected: []string{`event 1: invalid JSON in the value at byte 694: unexpected end of input`}},
		{name: "array element not object", body: "[" + goodLog + ",42]", events: 1,
			rejected: []string{`event 1: want a JSON object, got number`}},
		{name: "array broken", body: "[" + goodLog + ",{x}]", events: 1,
			rejected: []string{`event 1: invalid JSON in the value at byte 277: invalid character 'x' looking for beginning of object key string (the rest of the array is unreadable)`}},
		{name: "array trailing data", body: "[" + goodLog + "] x", events: 1,
			rejected: []string{`event 1: unexpected data after the JSON array at byte 278`}},
		{name: "array unterminated", body: "[" + goodLog, events: 1,
			rejected: []string{`event 1: invalid JSON at byte 276: unexpected end of input`}},
		{name: "top-level string", body: `"hello"`, rejected: []string{`event 0: want a JSON object, got string`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := DecodeBatch(strings.NewReader(tc.body), 1<<20)
			if err != nil {
				t.Fatalf("DecodeBatch: %v", err)
			}
			if len(b.Events) != tc.events {
				t.Errorf("events = %d, want %d (rejected: %v)", len(b.Events), tc.events, b.Rejected)
			}
			var got []string
			for _, r := range b.Rejected {
				got = append(got, r.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.rejected, "\n") {
				t.Errorf("rejected:\n got %q\nwant %q", got, tc.rejected)
			}
		})
	}
}

func TestDecodeFieldErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		body string
		want string // the error text of the event (index 0)
	}{
		{"PID string", with(t, goodAlert, `"PID":42`, `"PID":"x"`), `event 0: field "PID": want integer, got string`},
		{"PID float", with(t, goodAlert, `"PID":42`, `"PID":4.5`), `event 0: field "PID": want integer, got number 4.5`},
		{"PID exponent", with(t, goodAlert, `"PID":42`, `"PID":1e3`), `event 0: field "PID": want integer, got number 1e3`},
		{"PID out of int32", with(t, goodAlert, `"PID":42`, `"PID":2147483648`), `event 0: field "PID": integer 2147483648 out of range for int32`},
		{"PID null", with(t, goodAlert, `"PID":42`, `"PID":null`), `event 0: field "PID": want integer, got null`},
		{"Timestamp zero", with(t, goodAlert, `"Timestamp":1700000000`, `"Timestamp":0`), `event 0: field "Timestamp": want a positive unix time in seconds, got 0`},
		{"Timestamp missing", with(t, goodAlert, `"Timestamp":1700000000,`, ``), `event 0: field "Timestamp": required for every event`},
		{"HostName bool", with(t, goodAlert, `"HostName":"ip-10-0-0-1"`, `"HostName":true`), `event 0: field "HostName": want string, got boolean`},
		{"HostName empty", with(t, goodAlert, `"HostName":"ip-10-0-0-1"`, `"HostName":""`), `event 0: field "HostName": must not be empty (omit the key instead)`},
		{"ATags item", with(t, goodAlert, `"ATags":["NIST"]`, `"ATags":["NIST",3]`), `event 0: field "ATags[1]": want string, got number`},
		{"ATags string", with(t, goodAlert, `"ATags":["NIST"]`, `"ATags":"NIST"`), `event 0: field "ATags": want array of strings, got string`},
		{"EventData number", with(t, goodAlert, `"EventData":{"Syscall":"SYS_OPENAT"}`, `"EventData":{"Fd":-100}`), `event 0: field "EventData.Fd": want string, got number`},
		{"Owner nested", with(t, goodAlert, `"Name":"web"`, `"Name":1`), `event 0: field "Owner.Name": want string, got number`},
		{"case mismatch", with(t, goodAlert, `"PID":42`, `"pid":"42"`), `event 0: field "pid": unknown key differs only in case from "PID" (keys are case-sensitive)`},
		{"unknown Type", with(t, goodAlert, `"Type":"MatchedPolicy"`, `"Type":"Matched"`), `event 0: field "Type": unknown value "Matched", want one of MatchedPolicy, MatchedHostPolicy, MatchedNetworkPolicy, SystemEvent, ContainerLog, HostLog`},
		{"unknown Operation", with(t, goodAlert, `"Operation":"File"`, `"Operation":"file"`), `event 0: field "Operation": unknown value "file", want one of Process, File, Network, Capabilities, Syscall, AlertThreshold, Device, NetworkFirewall`},
		{"unknown Action", with(t, goodAlert, `"Action":"Block"`, `"Action":"Deny"`), `event 0: field "Action": unknown value "Deny", want one of Allow, Audit, Block, Audit (Allow), Audit (Block)`},
		{"Severity 0", with(t, goodAlert, `"Severity":"5"`, `"Severity":"0"`), `event 0: field "Severity": want "1".."10" or absent, got "0"`},
		{"Severity 11", with(t, goodAlert, `"Severity":"5"`, `"Severity":"11"`), `event 0: field "Severity": want "1".."10" or absent, got "11"`},
		{"Severity number", with(t, goodAlert, `"Severity":"5"`, `"Severity":5`), `event 0: field "Severity": want string, got number`},
		{"UpdatedTime format", with(t, goodAlert, `"UpdatedTime":"2023-11-14T22:13:20.000000Z"`, `"UpdatedTime":"yesterday"`), `event 0: field "UpdatedTime": want an RFC 3339 time such as 2006-01-02T15:04:05.000000Z, got "yesterday"`},
		{"policy alert without PolicyName", with(t, goodAlert, `"PolicyName":"block-shadow",`, ``), `event 0: field "PolicyName": required for Type MatchedPolicy`},
		{"policy alert without Action", with(t, goodAlert, `"Action":"Block",`, ``), `event 0: field "Action": required for Type MatchedPolicy`},
		{"File without Resource", with(t, goodAlert, `"Resource":"/etc/shadow",`, ``), `event 0: field "Resource": required for Operation File`},
		{"log without Result", with(t, goodLog, `,"Result":"Passed"`, ``), `event 0: field "Result": required for Type ContainerLog`},
		{"alert key on log", with(t, goodLog, `"Result":"Passed"`, `"Result":"Passed","Action":"Block"`), `event 0: field "Action": only alerts have this key, and Type ContainerLog is a log`},
		{"several problems", with(t, with(t, goodLog, `"PID":43`, `"PID":"x"`), `"UID":0`, `"UID":[]`), `event 0: field "PID": want integer, got string; field "UID": want integer, got array`},
		{"empty object", `{}`, `event 0: field "Timestamp": required for every event; field "UpdatedTime": required for every event; field "HostName": required for every event; field "Type": required for every event; field "Operation": required for every event`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			evs, err := Decode(strings.NewReader(tc.body), 1<<20)
			if len(evs) != 0 {
				t.Errorf("got %d valid events, want 0", len(evs))
			}
			var es Errors
			if !errors.As(err, &es) || len(es) != 1 {
				t.Fatalf("err = %v, want one *EventError", err)
			}
			if got := es[0].Error(); got != tc.want {
				t.Errorf("error:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestDecodeUnknownKeysAccepted(t *testing.T) {
	t.Parallel()
	body := with(t, goodAlert, `"PID":42`, `"PID":42,"NewField2030":{"x":1}`)
	body = with(t, body, `"ExecID":"1"`, `"ExecID":"1","Future":"y"`)
	b, err := DecodeBatch(strings.NewReader(body), 1<<20)
	if err != nil || len(b.Rejected) != 0 || len(b.Events) != 1 {
		t.Fatalf("DecodeBatch = %+v, %v; want one valid event", b, err)
	}
	want := []UnknownKey{{0, "NewField2030"}, {0, "ExecEvent.Future"}} // document order
	if len(b.Unknown) != len(want) || b.Unknown[0] != want[0] || b.Unknown[1] != want[1] {
		t.Errorf("Unknown = %v, want %v", b.Unknown, want)
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	for _, body := range []string{goodAlert, goodLog, goodSys} {
		evs, err := Decode(strings.NewReader(body), 1<<20)
		if err != nil || len(evs) != 1 {
			t.Fatalf("Decode(%s) = %d events, %v", body, len(evs), err)
		}
		out, err := evs[0].MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		again, err := Decode(strings.NewReader(string(out)), 1<<20)
		if err != nil || len(again) != 1 {
			t.Fatalf("re-decode %s: %v", out, err)
		}
		out2, _ := again[0].MarshalJSON()
		if string(out) != string(out2) {
			t.Errorf("round trip changed the event:\n%s\n%s", out, out2)
		}
	}
	evs, _ := Decode(strings.NewReader(goodAlert), 1<<20)
	if !evs[0].IsAlert() || evs[0].Alert.PID != 42 || evs[0].Alert.Owner.Name != "web" || evs[0].Severity() != 5 {
		t.Errorf("decoded alert = %+v", evs[0].Alert)
	}
}

func TestDecodeLimits(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		body    string
		limit   int64
		wantErr error
	}{
		{"exactly the limit", goodLog, int64(len(goodLog)), nil},
		{"one byte over", goodLog, int64(len(goodLog)) - 1, ErrTooLarge},
		{"empty", "", 10, ErrEmpty},
		{"only spaces", " \n\t ", 10, ErrEmpty},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decode(strings.NewReader(tc.body), tc.limit)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
	if _, err := Decode(strings.NewReader(goodLog), 0); err == nil {
		t.Error("limit 0 accepted")
	}
}

func TestValidateBuiltEvents(t *testing.T) {
	t.Parallel()
	evs, _ := Decode(strings.NewReader(goodAlert), 1<<20)
	a := evs[0].Alert
	cases := []struct {
		name string
		ev   Event
		want string
	}{
		{"valid", evs[0], ""},
		{"zero", Event{}, "empty event: neither Alert nor Log"},
		{"both", Event{Alert: a, Log: evs[0].Log}, ""},
		{"alert with log type", NewAlert(&pb.Alert{Timestamp: 1, UpdatedTime: "2023-11-14T22:13:20Z", HostName: "h", Type: TypeContainerLog, Operation: OpSyscall, Result: "Passed"}), `field "Type": "ContainerLog" is a log type but the event is an Alert`},
	}
	for _, tc := range cases {
		err := tc.ev.Validate()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: Validate = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestDecodeDuplicateKeysAllChecked(t *testing.T) {
	t.Parallel()
	body := with(t, goodAlert, `"PID":42`, `"PID":"x","PID":42`)
	_, err := Decode(strings.NewReader(body), 1<<20)
	if err == nil || err.Error() != `event 0: field "PID": want integer, got string` {
		t.Errorf("err = %v", err)
	}
}

func TestScanner(t *testing.T) {
	t.Parallel()
	raw := []byte(` { "a" : "x\"}" , "b\u0041":[1,{"c":"]"}], "d":{ "e" : [ ] } ,"f":-1.5e3,"g":null } `)
	var keys, vals []string
	src := newSource(raw)
	scanObject(raw, func(k, v []byte) bool {
		keys = append(keys, src.key(k))
		vals = append(vals, string(v))
		return true
	})
	wantK := []string{"a", "bA", "d", "f", "g"}
	wantV := []string{`"x\"}"`, `[1,{"c":"]"}]`, `{ "e" : [ ] }`, `-1.5e3`, `null`}
	if strings.Join(keys, "|") != strings.Join(wantK, "|") || strings.Join(vals, "|") != strings.Join(wantV, "|") {
		t.Errorf("keys %q vals %q", keys, vals)
	}
	var items []string
	scanArray([]byte(`[ "a" , [1,2] ,{"x":"]"} ,3 ]`), func(i int, v []byte) { items = append(items, string(v)) })
	if strings.Join(items, "|") != `"a"|[1,2]|{"x":"]"}|3` {
		t.Errorf("items %q", items)
	}
}
