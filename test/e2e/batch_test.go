package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/icon-edge/icon-edge/test/iconsim"
)

// A batch larger than a node accepts is split, routed and reassembled: every
// id comes back once, in order, and the nodes never see more than 10 items.
func TestLargeBatchKeepsIDsAndOrder(t *testing.T) {
	sim := startSim(t, 3)
	e := startEdge(t, edgeConfig(sim))
	if err := sim.WaitHeight(ctxT(t), 2); err != nil {
		t.Fatal(err)
	}
	allInSync(t, e, 3)
	var items []string
	for i := 0; i < 37; i++ {
		switch i % 4 {
		case 0:
			items = append(items, fmt.Sprintf(`{"jsonrpc":"2.0","id":"s%d","method":"icx_getLastBlock"}`, i))
		case 1:
			items = append(items, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"icx_getBalance","params":{"address":"%s"}}`, i, iconsim.DevAddress))
		case 2:
			items = append(items, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d.5,"method":"icx_getBlockByHeight","params":{"height":"0x1"}}`, i))
		case 3:
			items = append(items, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"no_such_method"}`, i))
		}
	}
	items = append(items, `{"jsonrpc":"2.0","method":"icx_getTotalSupply"}`) // notification: no answer
	r := post(t, e.URL()+"/api/v3/icon_dex", "["+strings.Join(items, ",")+"]")
	if r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	var answers []rpcAnswer
	if err := json.Unmarshal(r.body, &answers); err != nil {
		t.Fatalf("batch answer: %v %s", err, r.body)
	}
	if len(answers) != 37 {
		t.Fatalf("%d answers for 37 calls + 1 notification", len(answers))
	}
	for i, a := range answers {
		var want string
		switch i % 4 {
		case 0:
			want = fmt.Sprintf(`"s%d"`, i)
		case 2:
			want = fmt.Sprintf(`%d.5`, i)
		default:
			want = fmt.Sprint(i)
		}
		if string(a.ID) != want {
			t.Fatalf("answer %d has id %s, want %s", i, a.ID, want)
		}
		if (i%4 == 3) != (a.Error != nil) {
			t.Fatalf("answer %d: %+v %s", i, a, r.body)
		}
		if i%4 == 3 && a.Error.Code != -32601 {
			t.Fatalf("unknown method answered %d", a.Error.Code)
		}
	}
	var total int64
	for i := 0; i < 3; i++ {
		total += sim.Node(i).Stats().Methods["icx_getTotalSupply"]
	}
	if total != 0 {
		t.Fatalf("a read notification was executed %d times", total)
	}
}
