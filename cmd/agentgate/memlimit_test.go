package main

import "testing"

func TestLambdaMemoryLimitIsNinetyPercentOfTheFunctionsMemory(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    map[string]string
		want   int64
		wantOK bool
	}{
		{"a 1,024 MiB function gets 921.6 MiB", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"}, 1024 << 20 / 10 * 9, true},
		{"GOMEMLIMIT wins", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024", "GOMEMLIMIT": "600MiB"}, 0, false},
		{"no memory size, no limit", map[string]string{}, 0, false},
		{"a bad memory size, no limit", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "lots"}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := lambdaMemoryLimit(func(k string) string { return tc.env[k] })
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("lambdaMemoryLimit = %d, %v; want %d, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}
