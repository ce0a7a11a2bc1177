package sse_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/agentgate/agentgate/internal/sse"
)

func ExampleReader() {
	stream := strings.NewReader(": stream start\n\n" +
		"data: {\"event\":{\"contentBlockDelta\":{\"delta\":{\"text\":\"Hi\"}}}}\n\n" +
		"event: metadata\r\ndata: line one\r\ndata: line two\r\n\r\n")
	r := sse.NewReader(stream, sse.Options{})
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		if !ev.HasData {
			fmt.Printf("forward only %q\n", ev.Raw)
			continue
		}
		fmt.Printf("type %q data %q\n", ev.Type, ev.Data)
	}
	// Output:
	// forward only ": stream start\n\n"
	// type "" data "{\"event\":{\"contentBlockDelta\":{\"delta\":{\"text\":\"Hi\"}}}}"
	// type "metadata" data "line one\nline two"
}

func ExampleWriteEvent() {
	_ = sse.WriteEvent(os.Stdout, "delta", []byte("two\nlines"))
	_ = sse.WriteComment(os.Stdout, "keep-alive")
	// Output:
	// event: delta
	// data: two
	// data: lines
	//
	// : keep-alive
}
