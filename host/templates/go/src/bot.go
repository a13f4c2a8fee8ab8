// Package export_wasmbot_bot_handler is {{name}}: it greets with a button, repeats what the
// guest writes, and hands the chat to a colleague when the guest clicks the button.
package export_wasmbot_bot_handler

import (
	"wit_component/wasmbot"

	witTypes "go.bytecodealliance.org/pkg/wit/types"
	types "wit_component/wasmbot_bot_types"
)

// human is the button's title, which is also the text a click sends.
const human = "Talk to a human"

// Handle is the world's export.
func Handle(ctx types.Context, event types.Event) witTypes.Result[[]types.Activity, string] {
	return wasmbot.Serve(handle, ctx, event)
}

func handle(conversation *wasmbot.Conversation, event wasmbot.Event) ([]wasmbot.Activity, error) {
	switch event.Tag() {
	case types.Event_ConversationStarted:
		return []wasmbot.Activity{wasmbot.Buttons(wasmbot.Setting("greeting", "Hello!"), []string{human})}, nil
	case types.Event_Text:
		text := event.Text().Text
		if text == human {
			return []wasmbot.Activity{wasmbot.Text("Connecting you to a colleague."), wasmbot.HandOff()}, nil
		}
		return []wasmbot.Activity{wasmbot.Text("You said: " + text)}, nil
	}
	return nil, nil
}
