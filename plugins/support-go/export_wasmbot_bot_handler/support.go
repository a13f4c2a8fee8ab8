// Package export_wasmbot_bot_handler is the support bot in Go: the same flow, texts, settings
// and stored state as the Rust `plugins/support` bot (see its doc comment);
// `plugins/scripts/support.json` checks both.
package export_wasmbot_bot_handler

import (
	"fmt"
	"strings"
	"unicode"

	"wit_component/wasmbot"

	witTypes "go.bytecodealliance.org/pkg/wit/types"
	types "wit_component/wasmbot_bot_types"
)

const (
	greeting         = "Hello! I am the support assistant. What can we help you with?"
	notUnderstood    = "Sorry, I did not understand. Please choose one of:"
	checking         = "One moment, I am checking who is available…"
	stillChecking    = "I am still checking who is available, one moment please."
	handingOff       = "Connecting you to our team for"
	alreadyHandedOff = "You are being connected to a colleague, please wait."
	offlineAskEmail  = "Nobody from the team is available right now. Leave us your e-mail address and a message, and we will get back to you. What is your e-mail address?"
	badEmail         = "That does not look like an e-mail address. Please write it like name@example.com."
	askMessage       = "Thank you. What would you like to tell us?"
	thanks           = "Thank you! We have passed your message on and will reply to"
	offlineLocation  = "wasmbot support bot"
	stepKey          = "step"
)

var defaultTopics = []string{"Sales", "Complaint", "Other"}

// Step is a session's place in the flow, stored as the Rust bot stores it.
type Step struct {
	Step  string `json:"step"`
	Topic string `json:"topic,omitempty"`
	Email string `json:"email,omitempty"`
}

// Handle is the world's export.
func Handle(ctx types.Context, event types.Event) witTypes.Result[[]types.Activity, string] {
	return wasmbot.Serve(handle, ctx, event)
}

func handle(conversation *wasmbot.Conversation, event wasmbot.Event) ([]wasmbot.Activity, error) {
	var step Step
	if _, err := conversation.Session.Get(stepKey, &step); err != nil {
		return nil, err
	}
	var next Step
	var activities []wasmbot.Activity
	switch event.Tag() {
	case types.Event_ConversationStarted:
		next, activities = start()
	case types.Event_ConversationEnded:
		return nil, conversation.Session.Delete(stepKey)
	case types.Event_Text:
		next, activities = onText(strings.TrimSpace(event.Text().Text), step)
	case types.Event_SetCallParamsResponse:
		if outcome := event.SetCallParamsResponse(); !outcome.Success {
			reason := ""
			if outcome.ErrorMessage.IsSome() {
				reason = outcome.ErrorMessage.Some()
			}
			wasmbot.Warn("SetCallParams failed: %s", reason)
		}
		return nil, nil
	case types.Event_GetAvailableGroupsResponse:
		if step.Step != "checking-availability" {
			wasmbot.Debug("ignoring groups in step %q", step.Step)
			return nil, nil
		}
		next, activities = onGroups(step.Topic, event.GetAvailableGroupsResponse())
	default:
		wasmbot.Debug("ignoring event %d in step %q", event.Tag(), step.Step)
		return nil, nil
	}
	return activities, conversation.Session.Set(stepKey, next)
}

func topics() []string {
	var configured []string
	if wasmbot.SettingJSON("topics", &configured) && len(configured) > 0 {
		return configured
	}
	return defaultTopics
}

func start() (Step, []wasmbot.Activity) {
	return Step{Step: "choosing-topic"}, []wasmbot.Activity{wasmbot.Buttons(wasmbot.Setting("greeting", greeting), topics())}
}

func onText(text string, step Step) (Step, []wasmbot.Activity) {
	if strings.EqualFold(text, "menu") || strings.EqualFold(text, "start over") {
		return start()
	}
	switch step.Step {
	case "checking-availability":
		return step, []wasmbot.Activity{wasmbot.Text(stillChecking)}
	case "handed-off":
		return step, []wasmbot.Activity{wasmbot.Text(alreadyHandedOff)}
	case "asking-email":
		if looksLikeEmail(text) {
			return Step{Step: "asking-message", Topic: step.Topic, Email: text}, []wasmbot.Activity{wasmbot.Text(askMessage)}
		}
		return step, []wasmbot.Activity{wasmbot.Text(badEmail)}
	case "asking-message":
		return sendOfflineEmail(step.Topic, step.Email, text)
	default:
		return chooseTopic(text)
	}
}

func chooseTopic(text string) (Step, []wasmbot.Activity) {
	for _, topic := range topics() {
		if strings.EqualFold(topic, text) {
			return Step{Step: "checking-availability", Topic: topic}, []wasmbot.Activity{
				wasmbot.SetCallParam("HandoffReason", topic),
				wasmbot.Text(checking),
				wasmbot.Typing(true),
				wasmbot.GetAvailableGroups(),
			}
		}
	}
	help := fmt.Sprintf("%s %s.", notUnderstood, strings.Join(topics(), ", "))
	return Step{Step: "choosing-topic"}, []wasmbot.Activity{wasmbot.Buttons(help, topics())}
}

func onGroups(topic string, groups []types.AvailableGroup) (Step, []wasmbot.Activity) {
	for _, group := range groups {
		if group.State == wasmbot.GroupOnline || group.State == wasmbot.GroupBusy {
			return Step{Step: "handed-off", Topic: topic}, []wasmbot.Activity{
				wasmbot.Typing(false),
				wasmbot.Text(fmt.Sprintf("%s %s.", handingOff, topic)),
				wasmbot.HandOff(),
			}
		}
	}
	return Step{Step: "asking-email", Topic: topic}, []wasmbot.Activity{wasmbot.Typing(false), wasmbot.Text(offlineAskEmail)}
}

func sendOfflineEmail(topic, email, message string) (Step, []wasmbot.Activity) {
	location := wasmbot.Setting("offline_location", offlineLocation)
	return Step{Step: "done"}, []wasmbot.Activity{
		wasmbot.SetCallParam("oo1_guest_email", email),
		wasmbot.OfflineEmail("Support request: "+topic, fmt.Sprintf("From: %s\nTopic: %s\n\n%s", email, topic, message), location),
		wasmbot.Text(fmt.Sprintf("%s %s.", thanks, email)),
	}
}

func looksLikeEmail(text string) bool {
	local, domain, found := strings.Cut(text, "@")
	return found && local != "" && !strings.ContainsFunc(text, unicode.IsSpace) &&
		strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}
