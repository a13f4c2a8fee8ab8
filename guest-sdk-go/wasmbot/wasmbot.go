// Package wasmbot is the Go layer over the bindings `wit-bindgen go` generates for the
// `wasmbot:bot/bot` world (guest-sdk-go/bindings): activity builders, session and tenant
// state with JSON values, settings and logging, so a bot never juggles raw WIT variants.
//
// State keys and values follow the Rust SDK's layout (`session/{id}/{key}`, JSON values), so a
// bot can be rewritten in another language without losing its stored state.
package wasmbot

import (
	"encoding/json"
	"errors"
	"fmt"

	"wit_component/wasmbot_bot_config"
	"wit_component/wasmbot_bot_log"
	"wit_component/wasmbot_bot_state"
	types "wit_component/wasmbot_bot_types"

	witTypes "go.bytecodealliance.org/pkg/wit/types"
)

// Activity is one outbound mluvii activity; Event one inbound.
type (
	Activity = types.Activity
	Event    = types.Event
	Context  = types.Context
)

// Group states of `get-available-groups-response`.
const (
	GroupOffline = types.GroupState_Offline
	GroupOnline  = types.GroupState_Online
	GroupBusy    = types.GroupState_Busy
)

// Conversation is where an event comes from: tenant, session, language, channel, state.
type Conversation struct {
	Tenant      string
	SessionID   int64
	Language    string // "" when unknown
	Channel     string // "" when unknown
	Session     Scope
	TenantState Scope
}

// Bot handles one event and returns the activities to send.
type Bot func(conversation *Conversation, event Event) ([]Activity, error)

// Serve runs bot for the export's arguments; call it from the export's Handle.
func Serve(bot Bot, ctx Context, event Event) witTypes.Result[[]Activity, string] {
	conversation := &Conversation{
		Tenant:      ctx.Tenant,
		SessionID:   ctx.SessionId,
		Language:    optional(ctx.Language),
		Channel:     optional(ctx.Channel),
		Session:     Scope{prefix: fmt.Sprintf("session/%d/", ctx.SessionId)},
		TenantState: Scope{},
	}
	activities, err := bot(conversation, event)
	if err != nil {
		return witTypes.Err[[]Activity, string](err.Error())
	}
	if activities == nil {
		activities = []Activity{}
	}
	return witTypes.Ok[[]Activity, string](activities)
}

func optional(value witTypes.Option[string]) string {
	if value.IsSome() {
		return value.Some()
	}
	return ""
}

// ----- state ----------------------------------------------------------------------------------

// Scope is typed state under a key prefix: the whole tenant, or one session.
type Scope struct{ prefix string }

// Get reads the JSON value under key into out; found is false when there is none.
func (s Scope) Get(key string, out any) (found bool, err error) {
	result := wasmbot_bot_state.Get(s.prefix + key)
	if result.IsErr() {
		return false, errors.New("state get: " + result.Err())
	}
	value := result.Ok()
	if value.IsNone() {
		return false, nil
	}
	if err := json.Unmarshal(value.Some(), out); err != nil {
		return false, fmt.Errorf("state `%s`: %w", key, err)
	}
	return true, nil
}

// Set stores value under key as JSON.
func (s Scope) Set(key string, value any) error {
	bytes, err := json.Marshal(value)
	if err != nil {
		return err
	}
	if result := wasmbot_bot_state.Set(s.prefix+key, bytes); result.IsErr() {
		return errors.New("state set: " + result.Err())
	}
	return nil
}

// Delete removes key (a missing key is not an error).
func (s Scope) Delete(key string) error {
	if result := wasmbot_bot_state.Delete(s.prefix + key); result.IsErr() {
		return errors.New("state delete: " + result.Err())
	}
	return nil
}

// ----- settings and logging ---------------------------------------------------------------

// Setting is the setting key as text (non-string settings as JSON text), or fallback.
func Setting(key, fallback string) string {
	if value := wasmbot_bot_config.Get(key); value.IsSome() {
		return value.Some()
	}
	return fallback
}

// SettingJSON reads the setting key as JSON into out; false when it is unset or not JSON.
func SettingJSON(key string, out any) bool {
	value := wasmbot_bot_config.Get(key)
	return value.IsSome() && json.Unmarshal([]byte(value.Some()), out) == nil
}

// Debug, Info, Warn and Error log a line attributed to the bot.
func Debug(format string, args ...any) { logAt(1, format, args...) }

// Info logs at info level.
func Info(format string, args ...any) { logAt(2, format, args...) }

// Warn logs at warn level.
func Warn(format string, args ...any) { logAt(3, format, args...) }

// Error logs at error level.
func Error(format string, args ...any) { logAt(4, format, args...) }

func logAt(level wasmbot_bot_log.Level, format string, args ...any) {
	wasmbot_bot_log.Log(level, fmt.Sprintf(format, args...))
}

// ----- activities -------------------------------------------------------------------------

func message(m types.Message) Activity {
	if m.Cards == nil {
		m.Cards = []types.Card{}
	}
	if m.SuggestedActions == nil {
		m.SuggestedActions = []types.CardAction{}
	}
	return types.MakeActivityMessage(m)
}

// Text is a text message.
func Text(text string) Activity {
	return message(types.Message{Text: witTypes.Some(text), Layout: witTypes.None[types.CardLayout]()})
}

// ImBack is a button the guest "says": its value comes back as a text event.
func ImBack(title, value string) types.CardAction {
	return types.CardAction{Kind: types.ActionKind_ImBack, Title: title, Value: value, Image: witTypes.None[string]()}
}

// Buttons is a text with one im-back button per title (one hero card titled text).
func Buttons(text string, titles []string) Activity {
	buttons := make([]types.CardAction, 0, len(titles))
	for _, title := range titles {
		buttons = append(buttons, ImBack(title, title))
	}
	card := types.Card{
		Kind: types.CardKind_Hero, Title: witTypes.Some(text),
		Subtitle: witTypes.None[string](), Text: witTypes.None[string](),
		Images: []string{}, Buttons: buttons,
	}
	return message(types.Message{
		Text: witTypes.None[string](), Cards: []types.Card{card}, Layout: witTypes.None[types.CardLayout](),
	})
}

// Typing shows or hides the typing indicator.
func Typing(show bool) Activity { return types.MakeActivityTyping(show) }

// HandOff returns the session to mluvii's routing (a human operator).
func HandOff() Activity { return types.MakeActivityHandOff() }

// SetCallParam merges one call param into the session's (→ set-call-params-response).
func SetCallParam(key, value string) Activity {
	return types.MakeActivitySetCallParams([]types.KeyValue{{Key: key, Value: value}})
}

// GetAvailableGroups asks which groups routing would pick now (→ get-available-groups-response).
func GetAvailableGroups() Activity {
	return types.MakeActivityGetAvailableGroups(witTypes.None[[]int32]())
}

// OfflineEmail sends an e-mail as if the guest had filled in the offline form.
func OfflineEmail(subject, body, location string) Activity {
	return types.MakeActivitySendGuestOfflineEmail(types.OfflineEmail{Subject: subject, Message: body, Location: location})
}
