package main

import (
	"math/rand/v2"
	"regexp"
	"strconv"
	"testing"
)

func TestNumberAboveMatchesExactlyTheLargerNumbers(t *testing.T) {
	patterns := map[int64]*regexp.Regexp{}
	check := func(n, v int64) {
		t.Helper()
		re, ok := patterns[n]
		if !ok {
			re = regexp.MustCompile(numberAbove(n))
			patterns[n] = re
		}
		for _, s := range []string{strconv.FormatInt(v, 10), "00" + strconv.FormatInt(v, 10)} {
			if got := re.MatchString(s); got != (v > n) {
				t.Fatalf("numberAbove(%d) matches %q: %v, want %v (%s)", n, s, got, v > n, re)
			}
		}
	}
	for _, n := range []int64{0, 1, 9, 10, 99, 100, 190, 909, 999, 1000, 8192} {
		for v := range int64(12000) {
			check(n, v)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		n := r.Int64N(1 << 40)
		check(n, n-1)
		check(n, n)
		check(n, n+1)
		for range 50 {
			check(n, r.Int64N(4*n+10))
		}
	}
}

func TestNumberAboveRefusesWhatIsNotANumber(t *testing.T) {
	re := regexp.MustCompile(numberAbove(1048576))
	for _, s := range []string{"", " 2000000", "2000000 ", "-2000000", "2e9", "0x200000", "99999999999999999999a"} {
		if re.MatchString(s) {
			t.Errorf("matches %q", s)
		}
	}
	if len(numberAbove(1<<62)) > 512 {
		t.Error("pattern longer than the 512 characters WAF takes")
	}
}
