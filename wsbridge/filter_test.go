package wsbridge

import (
	"strings"
	"testing"

	"github.com/valyala/fastjson"
)

const (
	token = "cx0000000000000000000000000000000000001234"
	alice = "hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7"
	bob   = "hx6d012de5402f8d43a87a1406e24ef69db9972bb4"
	xfer  = "Transfer(Address,Address,int)"
)

func selectorOf(t *testing.T, first string) *selector {
	t.Helper()
	sub, werr := parseRequest([]byte(first), "event")
	if werr != nil {
		t.Fatalf("%s: %v", first, werr)
	}
	return sub.sel
}

// Only filters the bridge matches exactly as a node does are shared; any
// spelling a node would normalize or refuse keeps a session of its own.
func TestShareableFilters(t *testing.T) {
	for first, want := range map[string]bool{
		`{"height":"0x1","event":"` + xfer + `"}`:                                                                             true,
		`{"height":"0x1","event":"` + xfer + `","addr":"` + token + `","indexed":[null,"` + bob + `"]}`:                       true,
		`{"height":"0x1","eventFilters":[{"event":"` + xfer + `","indexed":[null,null,"0x10"]}],"logs":"0x1"}`:                true,
		`{"height":"0x1","eventFilters":[{"event":"` + xfer + `","indexed":[null,null],"data":["0x10"]}]}`:                    false, // data arguments
		`{"height":"0x1","eventFilters":[{"event":"Log(str,bytes)","indexed":["a<b\"","0x00ff"]}]}`:                           true,
		`{"height":"0x1","eventFilters":[{"event":"` + xfer + `","data":["0x010"]}]}`:                                         false, // leading zero
		`{"height":"0x1","eventFilters":[{"event":"` + xfer + `","data":["0xA"]}]}`:                                           false, // uppercase
		`{"height":"0x1","eventFilters":[{"event":"` + xfer + `","indexed":["0x5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7"]}]}`: false,
		`{"height":"0x1","eventFilters":[{"event":"Flag(bool)","indexed":["0x1"]}]}`:                                          false,
		`{"height":"0x1","eventFilters":[{"event":"Nothing()"}]}`:                                                             false, // a node refuses it
		`{"height":"0x1","eventFilters":[{"event":"` + xfer + `","indexed":[null,null,null,null]}]}`:                          false,
		`{"height":"0x1","eventFilters":[{"event":"Odd(list)","indexed":[null]}]}`:                                            false,
		`{"height":"0x1","event":"` + xfer + `","eventFilters":[{"event":"` + xfer + `"}]}`:                                   false,
	} {
		if got := selectorOf(t, first) != nil; got != want {
			t.Errorf("%s: shared %v, want %v", first, got, want)
		}
	}
}

func mustParse(t *testing.T, s string) *fastjson.Value {
	t.Helper()
	v, err := fastjson.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A shared notification (goloop's field order, three matching events of two
// filters) is cut to each subscriber's own events, byte for byte otherwise.
func TestCutSharedNotification(t *testing.T) {
	logOf := func(from, to, v string) string {
		return `{"scoreAddress":"` + token + `","indexed":["` + xfer + `","` + from + `","` + to + `","` + v + `"],"data":[]}`
	}
	shared := `{"hash":"0xab","height":"0x10","index":"0x2","events":["0x0","0x3","0x4"],"logs":[` +
		logOf(alice, bob, "0x1") + `,` + `{"scoreAddress":"` + token + `","indexed":["Approval(Address,Address,int)","` +
		alice + `","` + bob + `","0x5"],"data":[]}` + `,` + logOf(bob, alice, "0x2") + `]}` + "\n"
	logs := mustParse(t, shared).GetArray("logs")
	toBob := selectorOf(t, `{"height":"0x1","eventFilters":[{"addr":"`+token+`","event":"`+xfer+`","indexed":[null,"`+bob+`"]}],"logs":"0x1"}`)
	out, ok := toBob.cut([]byte(shared), logs)
	want := `{"hash":"0xab","height":"0x10","index":"0x2","events":["0x0"],"logs":[` + logOf(alice, bob, "0x1") + `]}` + "\n"
	if !ok || string(out) != want {
		t.Fatalf("to bob:\n%s\nwant\n%s", out, want)
	}
	anyXfer := selectorOf(t, `{"height":"0x1","event":"`+xfer+`"}`)
	out, ok = anyXfer.cut([]byte(shared), logs)
	if want := `{"hash":"0xab","height":"0x10","index":"0x2","events":["0x0","0x4"]}` + "\n"; !ok || string(out) != want {
		t.Fatalf("without logs:\n%s\nwant\n%s", out, want)
	}
	value2 := selectorOf(t, `{"height":"0x1","event":"`+xfer+`","indexed":[null,null,"0x2"]}`)
	if out, ok = value2.cut([]byte(shared), logs); !ok || !strings.Contains(string(out), `"events":["0x4"]`) {
		t.Fatalf("by value: %s", out)
	}
	other := selectorOf(t, `{"height":"0x1","event":"`+xfer+`","addr":"cx0000000000000000000000000000000000000001"}`)
	if _, ok := other.cut([]byte(shared), logs); ok {
		t.Fatal("another contract's filter took events")
	}
}

// goloop's MatchLog: an argument filter needs the log to have more indexed
// values than the filter has, and at least as many data values.
func TestMatchArgumentCounts(t *testing.T) {
	f := selectorOf(t, `{"height":"0x1","event":"E(int,int)","indexed":["0x7"],"data":[null]}`).filters[0]
	for log, want := range map[string]bool{
		`{"scoreAddress":"` + token + `","indexed":["E(int,int)","0x7"],"data":["0x1"]}`: true,
		`{"scoreAddress":"` + token + `","indexed":["E(int,int)","0x7"],"data":[null]}`:  true,
		`{"scoreAddress":"` + token + `","indexed":["E(int,int)"],"data":["0x1"]}`:       false,
		`{"scoreAddress":"` + token + `","indexed":["E(int,int)","0x7"],"data":[]}`:      false,
		`{"scoreAddress":"` + token + `","indexed":["E(int,int)","0x8"],"data":["0x1"]}`: false,
		`{"scoreAddress":"` + token + `","indexed":["E(int,int)",null],"data":["0x1"]}`:  false,
		`{"scoreAddress":"` + token + `","indexed":["F(int,int)","0x7"],"data":["0x1"]}`: false,
	} {
		if got := f.match(mustParse(t, log)); got != want {
			t.Errorf("%s: %v, want %v", log, got, want)
		}
	}
}
