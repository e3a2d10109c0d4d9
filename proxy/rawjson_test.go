package proxy

import "testing"

func TestEscapeChecks(t *testing.T) {
	for in, want := range map[string]bool{`{"a":"\q"}`: true, `{"a":"\u12"}`: true, `{"a":"\n\u00e9"}`: false, `{"a":1}`: false} {
		if got := hasBadEscape([]byte(in)); got != want {
			t.Errorf("hasBadEscape(%s) = %v", in, got)
		}
	}
	for in, want := range map[string]bool{`"\ud800"`: true, `"\uDBFF\uDC00"`: true, `"\\ud800"`: true, `"\u00e9\u0041"`: false, `"\u"`: false, `"x"`: false} {
		if got := hasSurrogateEscape([]byte(in)); got != want {
			t.Errorf("hasSurrogateEscape(%s) = %v", in, got)
		}
	}
}
