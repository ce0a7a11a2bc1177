package model_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/agentgate/agentgate/internal/model"
)

// The built-in model answers from the conversation itself, so a second turn
// shows that it saw the first.
func ExampleBuiltin() {
	m := model.NewBuiltin(model.BuiltinOptions{Delay: -1})
	req := model.Request{Messages: []model.Message{
		{Role: model.RoleUser, Text: "Hello, who are you?"},
		{Role: model.RoleAssistant, Text: "A demo."},
		{Role: model.RoleUser, Text: "Tell me more."},
	}}
	var reply strings.Builder
	res, err := m.Stream(context.Background(), req, func(delta string) error {
		reply.WriteString(delta)
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(reply.String())
	fmt.Printf("%s, %+v\n", res.StopReason, res.Usage)
	// Output:
	// This is agentgate's offline demo model; no language model is attached, so this reply is built from your own words. You wrote “Tell me more.”, 4 tokens by my simple count. This is turn 2 of our conversation, which you opened with “Hello, who are you?”.
	// end_turn, {InputTokens:13 OutputTokens:58 TotalTokens:71}
}
